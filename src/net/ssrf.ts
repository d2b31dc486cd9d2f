/**
 * Outbound address policy (SSRF protection), reusable for any outbound HTTP request.
 *
 * Every connection made through {@link guardedAgent} is checked at connect time:
 * - an IP-literal host is classified directly;
 * - a hostname is resolved exactly once by our own `lookup`, every answer is checked (one
 *   forbidden answer refuses the host), and the socket connects to one of those checked addresses.
 *   There is no second resolution, so DNS rebinding between "check" and "connect" is impossible.
 *   TLS SNI, certificate checks and the Host header keep using the hostname.
 *
 * Operators may allow named hosts (`images.internal`, `*.corp.example`) or CIDR ranges
 * (`10.20.0.0/16`) to reach an internal image store. An allowed host bypasses the private-address
 * refusal except for cloud metadata addresses, which only an explicit CIDR entry can open.
 */
import dns from 'node:dns';
import net from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent, buildConnector } from 'undici';

export interface NetPolicy {
  /** Hostnames allowed to resolve to private addresses: exact names or `*.suffix` wildcards. */
  allowHosts: string[];
  /** Address ranges allowed despite being private/reserved, e.g. `10.20.0.0/16`, `127.0.0.1/32`. */
  allowCidrs: string[];
}

export const EMPTY_NET_POLICY: Readonly<NetPolicy> = Object.freeze({ allowHosts: [], allowCidrs: [] });

/** Why an address (or host) is refused. */
export type AddressReason =
  | 'invalid'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'site-local'
  | 'unique-local'
  | 'cgnat'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'documentation'
  | 'benchmark'
  | 'metadata';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a hostname to all its addresses. Injectable for tests. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

/** The system resolver (getaddrinfo, as Node's default `lookup`), all addresses. */
export const systemResolver: Resolver = async (hostname) => {
  const answers = await dns.promises.lookup(hostname, { all: true, order: 'verbatim' });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/**
 * Thrown (as the connection error) when a host or address is refused. `reason` is safe to log;
 * `message` includes the host and address and is meant for server logs only, never for clients.
 */
export class BlockedAddressError extends Error {
  readonly code = 'ERR_VIDGATE_ADDRESS_BLOCKED';
  readonly reason: AddressReason;
  constructor(reason: AddressReason, host: string, address?: string) {
    super(`outbound connection to ${host}${address && address !== host ? ` (${address})` : ''} refused: ${reason}`);
    this.name = 'BlockedAddressError';
    this.reason = reason;
  }
}

/** Finds a BlockedAddressError in an error or its `cause` chain (undici may wrap errors). */
export function findBlockedError(err: unknown): BlockedAddressError | null {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof BlockedAddressError) return e;
  }
  return null;
}

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];
const cidr = (s: string): Range => ipaddr.parseCIDR(s);

const V4_METADATA = ['169.254.169.254/32', '169.254.170.2/32', '100.100.100.200/32', '168.63.129.16/32', '192.0.0.192/32'];
const V6_METADATA = ['fd00:ec2::254/128', 'fd20:ce::254/128'];

/** Ordered: the first match wins, so specific entries precede the ranges that contain them. */
const V4_TABLE: Array<[Range, AddressReason]> = [
  ...V4_METADATA.map((c): [Range, AddressReason] => [cidr(c), 'metadata']),
  [cidr('0.0.0.0/32'), 'unspecified'],
  [cidr('0.0.0.0/8'), 'reserved'],
  [cidr('10.0.0.0/8'), 'private'],
  [cidr('100.64.0.0/10'), 'cgnat'],
  [cidr('127.0.0.0/8'), 'loopback'],
  [cidr('169.254.0.0/16'), 'link-local'],
  [cidr('172.16.0.0/12'), 'private'],
  [cidr('192.0.0.0/24'), 'reserved'],
  [cidr('192.0.2.0/24'), 'documentation'],
  [cidr('192.88.99.0/24'), 'reserved'],
  [cidr('192.168.0.0/16'), 'private'],
  [cidr('198.18.0.0/15'), 'benchmark'],
  [cidr('198.51.100.0/24'), 'documentation'],
  [cidr('203.0.113.0/24'), 'documentation'],
  [cidr('224.0.0.0/4'), 'multicast'],
  [cidr('255.255.255.255/32'), 'broadcast'],
  [cidr('240.0.0.0/4'), 'reserved'],
];

const V6_TABLE: Array<[Range, AddressReason]> = [
  ...V6_METADATA.map((c): [Range, AddressReason] => [cidr(c), 'metadata']),
  [cidr('::/128'), 'unspecified'],
  [cidr('::1/128'), 'loopback'],
  [cidr('64:ff9b:1::/48'), 'private'],
  [cidr('100::/64'), 'reserved'],
  [cidr('2001:2::/48'), 'benchmark'],
  [cidr('2001:10::/28'), 'reserved'],
  [cidr('2001:20::/28'), 'reserved'],
  [cidr('2001:db8::/32'), 'documentation'],
  [cidr('3fff::/20'), 'documentation'],
  [cidr('5f00::/16'), 'reserved'],
  [cidr('fc00::/7'), 'unique-local'],
  [cidr('fe80::/10'), 'link-local'],
  [cidr('fec0::/10'), 'site-local'],
  [cidr('ff00::/8'), 'multicast'],
];
const GLOBAL_UNICAST_V6 = cidr('2000::/3');

const v4FromWords = (hi: number, lo: number): ipaddr.IPv4 =>
  new ipaddr.IPv4([(hi >> 8) & 0xff, hi & 0xff, (lo >> 8) & 0xff, lo & 0xff]);

function lookupTable(addr: ipaddr.IPv4 | ipaddr.IPv6, table: Array<[Range, AddressReason]>): AddressReason | null {
  for (const [range, reason] of table) {
    if (addr.kind() === range[0].kind() && addr.match(range)) return reason;
  }
  return null;
}

const classifyV4 = (addr: ipaddr.IPv4): AddressReason | null => lookupTable(addr, V4_TABLE);

/** IPv4 addresses embedded in an IPv6 address by a transition mechanism, or null. */
function embeddedV4(addr: ipaddr.IPv6): ipaddr.IPv4[] | null {
  const p = addr.parts;
  const w = (i: number): number => p[i] ?? 0;
  const zeroUpTo = (n: number): boolean => p.slice(0, n).every((x) => x === 0);
  // ::ffff:a.b.c.d (IPv4-mapped) and ::a.b.c.d (IPv4-compatible, deprecated).
  if (zeroUpTo(5) && (w(5) === 0xffff || w(5) === 0)) return [v4FromWords(w(6), w(7))];
  // 64:ff9b::a.b.c.d (NAT64 well-known prefix).
  if (w(0) === 0x64 && w(1) === 0xff9b && p.slice(2, 6).every((x) => x === 0)) return [v4FromWords(w(6), w(7))];
  // 2002:AABB:CCDD::/48 (6to4).
  if (w(0) === 0x2002) return [v4FromWords(w(1), w(2))];
  // 2001:0:SSSS:SSSS:flags:port:~CCCC:~CCCC (Teredo): server and obfuscated client.
  if (w(0) === 0x2001 && w(1) === 0) {
    return [v4FromWords(w(2), w(3)), v4FromWords(~w(6) & 0xffff, ~w(7) & 0xffff)];
  }
  return null;
}

function classifyV6(addr: ipaddr.IPv6): AddressReason | null {
  const listed = lookupTable(addr, V6_TABLE);
  if (listed) return listed;
  const embedded = embeddedV4(addr);
  if (embedded) {
    for (const v4 of embedded) {
      const r = classifyV4(v4);
      if (r) return r;
    }
    // IPv4-compatible addresses are deprecated and never legitimately reachable.
    const p = addr.parts;
    if (p.slice(0, 6).every((x) => x === 0)) return 'reserved';
    return null;
  }
  return addr.match(GLOBAL_UNICAST_V6) ? null : 'reserved';
}

const stripBrackets = (s: string): string => (s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s);
const stripZone = (s: string): string => {
  const i = s.indexOf('%');
  return i === -1 ? s : s.slice(0, i);
};

/** IPv6 with a trailing dotted quad (`::a.b.c.d`, `64:ff9b::a.b.c.d`) rewritten as hex words. */
function dottedTailToHex(s: string): string | null {
  const m = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return s;
  const [a, b, c, d] = m.slice(2).map(Number) as [number, number, number, number];
  if ([a, b, c, d].some((o) => o > 255)) return null;
  return `${m[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

function parseIp(ip: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  let s = stripZone(stripBrackets(ip.trim()));
  // ipaddr.js reads `::a.b.c.d` (IPv4-compatible) as `::ffff:a.b.c.d` (mapped); avoid that.
  if (s.includes(':')) {
    const hex = dottedTailToHex(s);
    if (hex === null) return null;
    s = hex;
  }
  // ipaddr.parse also takes inet_aton spellings (127.1, 0x7f.0.0.1, 2130706433), like getaddrinfo.
  return ipaddr.isValid(s) ? ipaddr.parse(s) : null;
}

/**
 * Classifies an IP address. Returns null for a public (globally routable) address, otherwise the
 * reason it must not be contacted. Embedded IPv4 (mapped, compatible, NAT64, 6to4, Teredo) is
 * classified as the IPv4 it reaches. Unparseable input is 'invalid'.
 */
export function classifyAddress(ip: string): AddressReason | null {
  const addr = parseIp(ip);
  if (!addr) return 'invalid';
  return addr.kind() === 'ipv4' ? classifyV4(addr as ipaddr.IPv4) : classifyV6(addr as ipaddr.IPv6);
}

/** Lower case, no brackets, no zone, no trailing dots. */
export function normalizeHost(host: string): string {
  return stripZone(stripBrackets(host.trim().toLowerCase())).replace(/\.+$/, '');
}

const BLOCKED_NAMES: ReadonlyMap<string, AddressReason> = new Map([
  ['localhost', 'loopback'],
  ['localhost.localdomain', 'loopback'],
  ['ip6-localhost', 'loopback'],
  ['ip6-loopback', 'loopback'],
  ['metadata', 'metadata'],
  ['metadata.google.internal', 'metadata'],
  ['metadata.goog', 'metadata'],
  ['instance-data', 'metadata'],
  ['instance-data.ec2.internal', 'metadata'],
]);

interface CompiledPolicy {
  hosts: string[];
  suffixes: string[];
  ranges: Range[];
}

/** Throws an Error naming the bad entry when the policy is malformed (for configuration loading). */
export function assertValidNetPolicy(policy: NetPolicy): void {
  compile(policy);
}

function compile(policy: NetPolicy): CompiledPolicy {
  const hosts: string[] = [];
  const suffixes: string[] = [];
  for (const raw of policy.allowHosts) {
    const h = normalizeHost(raw);
    if (h.startsWith('*.') && h.length > 2 && !h.slice(2).includes('*')) suffixes.push(h.slice(1));
    else if (h.length > 0 && !h.includes('*') && !h.includes('/')) hosts.push(h);
    else throw new Error(`invalid allowHosts entry "${raw}": use a hostname or *.domain`);
  }
  const ranges = policy.allowCidrs.map((raw): Range => {
    try {
      return ipaddr.parseCIDR(raw.trim());
    } catch {
      throw new Error(`invalid allowCidrs entry "${raw}": use an address range such as 10.20.0.0/16`);
    }
  });
  return { hosts, suffixes, ranges };
}

const compiledCache = new WeakMap<NetPolicy, CompiledPolicy>();
function compiled(policy: NetPolicy): CompiledPolicy {
  let c = compiledCache.get(policy);
  if (!c) {
    c = compile(policy);
    compiledCache.set(policy, c);
  }
  return c;
}

function hostAllowed(host: string, c: CompiledPolicy): boolean {
  const h = normalizeHost(host);
  return c.hosts.includes(h) || c.suffixes.some((s) => h.endsWith(s));
}

function cidrAllowed(ip: string, c: CompiledPolicy): boolean {
  let addr = parseIp(ip);
  if (!addr) return false;
  // ::ffff:a.b.c.d reaches a.b.c.d, so it is allowed exactly when a.b.c.d is.
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    addr = (addr as ipaddr.IPv6).toIPv4Address();
  }
  const a = addr;
  return c.ranges.some((r) => r[0].kind() === a.kind() && a.match(r));
}

/**
 * Decides whether `ip` (an address `host` resolved to, or the host itself when it is a literal)
 * may be contacted under `policy`. Returns null when allowed, else the refusal reason.
 * Metadata addresses can only be opened by an allowCidrs entry covering them.
 */
export function checkAddress(ip: string, host: string, policy: NetPolicy): AddressReason | null {
  const reason = classifyAddress(ip);
  if (!reason || reason === 'invalid') return reason;
  const c = compiled(policy);
  if (cidrAllowed(ip, c)) return null;
  if (reason !== 'metadata' && hostAllowed(host, c)) return null;
  return reason;
}

/**
 * Checks a host before any DNS query: IP literals are classified, and names that always mean
 * this machine or a metadata service (`localhost`, `*.localhost`, `metadata.google.internal`, …)
 * are refused unless allowed. Returns null when the host may be resolved and connected to.
 */
export function checkHost(host: string, policy: NetPolicy): AddressReason | null {
  const h = normalizeHost(host);
  if (h.length === 0) return 'invalid';
  if (net.isIP(h)) return checkAddress(h, h, policy);
  const named = BLOCKED_NAMES.get(h) ?? (h.endsWith('.localhost') ? 'loopback' : null);
  if (named && !hostAllowed(h, compiled(policy))) return named;
  return null;
}

/** Resolves `hostname` once and returns every address, or throws if any of them is refused. */
export async function resolveChecked(hostname: string, policy: NetPolicy, resolver: Resolver): Promise<ResolvedAddress[]> {
  const pre = checkHost(hostname, policy);
  if (pre) throw new BlockedAddressError(pre, hostname);
  const answers = await resolver(hostname);
  if (answers.length === 0) {
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  }
  for (const a of answers) {
    const reason = checkAddress(a.address, hostname, policy);
    if (reason) throw new BlockedAddressError(reason, hostname, a.address);
  }
  return answers;
}

/** A `lookup` for net/tls.connect that only ever yields checked addresses. */
export function guardedLookup(policy: NetPolicy, resolver: Resolver = systemResolver): net.LookupFunction {
  return (hostname, options, callback) => {
    resolveChecked(hostname, policy, resolver).then(
      (answers) => {
        const fam = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
        const usable = fam === 4 || fam === 6 ? answers.filter((a) => a.family === fam) : answers;
        const first = usable[0];
        if (!first) {
          callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '');
        } else if (options.all) {
          callback(null, usable.map((a) => ({ address: a.address, family: a.family })));
        } else {
          callback(null, first.address, first.family);
        }
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };
}

export interface GuardOptions {
  /** Time allowed for DNS resolution plus TCP (and TLS) connection establishment. */
  connectTimeoutMs: number;
  resolver?: Resolver;
}

/** An undici connector that checks the host (literal or resolved) of every new connection. */
export function guardedConnector(policy: NetPolicy, opts: GuardOptions): buildConnector.connector {
  assertValidNetPolicy(policy);
  const base = buildConnector({ timeout: opts.connectTimeoutMs, lookup: guardedLookup(policy, opts.resolver) });
  return (options, callback) => {
    // Literal IPs never reach `lookup` (net.connect skips it), so they are checked here.
    const reason = checkHost(options.hostname, policy);
    if (reason) {
      process.nextTick(callback, new BlockedAddressError(reason, options.hostname), null);
      return;
    }
    base(options, callback);
  };
}

/**
 * An undici Agent whose every connection is checked and pinned to a checked address. Use it as
 * the `dispatcher` for any outbound request (GET of reference images, POST of webhooks). It does
 * not follow redirects; a caller that follows them must re-check each URL's scheme.
 */
export function guardedAgent(
  policy: NetPolicy,
  opts: GuardOptions & { agentOptions?: Omit<Agent.Options, 'connect'> },
): Agent {
  return new Agent({ ...opts.agentOptions, connect: guardedConnector(policy, opts) });
}

/** Why a URL is refused before any connection: scheme, credentials, or its host. */
export type UrlRefusal = 'scheme' | 'credentials' | AddressReason;

/**
 * URL-level rules: http(s) only, no `user:pass@`, and {@link checkHost} on the host. The allow
 * lists never relax the scheme rule. Resolved addresses are checked later, at connect time.
 */
export function checkUrl(url: URL, policy: NetPolicy): UrlRefusal | null {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'scheme';
  if (url.username !== '' || url.password !== '') return 'credentials';
  return checkHost(url.hostname, policy);
}
