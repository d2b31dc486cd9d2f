/**
 * The HTTP core shared by the fake upstreams (plain `node:http`, no framework): listening on
 * 127.0.0.1 with a random port, going down and coming back on the same port, recording every
 * request (method, path, query, headers, raw body, parsed JSON or multipart fields and their JSON
 * types), fault injection, Range responses, throttled and truncated bodies, connection resets.
 *
 * Protocol fakes supply a router, a handler returning a `Reply`, and a renderer for error faults
 * in their own envelope. Tests normally use the protocol fakes, not this module directly.
 */
import { EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ErrorFault, FaultInjector, MalformedFault, NotFoundFault, ResolvedFaults } from './faults.js';
import { bufferSource, sliceSource } from './payload.js';
import type { ByteSource } from './payload.js';
import type { FieldType } from './util.js';
import { isRecord, jsonType, sha256Hex, sleep, wallNow } from './util.js';

export type RouteName = 'submit' | 'upload' | 'status' | 'list' | 'content' | 'delete' | 'remix' | 'cdn' | 'token' | 'unknown';

export interface UploadedFile {
  field: string;
  filename: string;
  contentType: string;
  size: number;
  sha256: string;
  bytes: Buffer;
}

export interface ResponseRecord {
  status: number;
  /** Real wall ms when the response ended (sent, aborted, reset or cut). */
  endedAt: number;
  bytesSent: number;
  /** The whole body was sent and the response ended normally. */
  complete: boolean;
  /** The client went away (or the fake went down) first. */
  aborted: boolean;
  /** The connection was reset on purpose (fault). */
  reset: boolean;
  /** The body was cut short on purpose (fault). */
  truncated: boolean;
}

export interface RecordedRequest {
  /** Global sequence number within this fake server (1-based). */
  seq: number;
  /** Which server saw it (`openai`, `apimart`, `cdn`, …). */
  server: string;
  /** Real wall ms of arrival (headers received). */
  at: number;
  method: string;
  /** Raw request target (path + query). */
  url: string;
  path: string;
  /** Query parameters (last value wins; see `searchParams` for repeats). */
  query: Record<string, string>;
  searchParams: URLSearchParams;
  /** Lower-cased header names. */
  headers: IncomingHttpHeaders;
  /** Header names and values as sent, alternating. */
  rawHeaders: string[];
  rawBody: Buffer;
  contentType: string | undefined;
  bodyKind: 'none' | 'json' | 'multipart' | 'other' | 'invalid-json' | 'invalid-multipart';
  /** Parsed JSON (any JSON value) when `bodyKind === 'json'`. */
  json: unknown;
  /** Multipart parts as received (every text part is a string). */
  form: { fields: Record<string, string[]>; files: UploadedFile[] } | undefined;
  /**
   * The body as an object: the JSON object, or the multipart parts with bracket keys rebuilt
   * (`input_reference[image_url]` → `{input_reference:{image_url}}`, `a[]` → arrays) and file
   * parts as `UploadedFile`.
   */
  body: Record<string, unknown> | undefined;
  /** JSON type of each top-level body field (`string`, `integer`, `number`, …, `file`). */
  fieldTypes: Record<string, FieldType>;
  route: RouteName;
  jobId: string | undefined;
  /** Fault actions applied to this request. */
  faults: string[];
  response: ResponseRecord | undefined;
}

export interface SendResult {
  status: number;
  bytesSent: number;
  complete: boolean;
  aborted: boolean;
  reset: boolean;
  truncated: boolean;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer | ByteSource;
  /** Default: the ByteSource's type, else `application/json` for strings. */
  contentType?: string;
  /** Called once however the response ended (also on resets and aborts). */
  onSent?: (result: SendResult) => void;
}

export interface FakeServerConfig {
  name: string;
  faults: FaultInjector;
  rng: () => number;
  /** `query`: for protocols that name the job in the query string (MiniMax V1's `?task_id=`). */
  route(method: string, path: string, query: URLSearchParams): { route: RouteName; jobId?: string };
  handle(req: RecordedRequest): Reply | Promise<Reply>;
  faultReply(action: ErrorFault | NotFoundFault, req: RecordedRequest): Reply;
  /** Headers added to every response (e.g. `x-request-id`). */
  commonHeaders?: (req: RecordedRequest) => Record<string, string>;
  /** Base latency (real ms) added to every response. */
  latencyMs?: number | { min: number; max: number };
  maxRecordedRequests?: number;
  port?: number;
}

export function jsonReply(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return { status, body: JSON.stringify(value), contentType: 'application/json', headers };
}

export function textReply(status: number, text: string, contentType: string, headers: Record<string, string> = {}): Reply {
  return { status, body: text, contentType, headers };
}

/**
 * A reply for a byte source honouring a single `Range: bytes=` header (206 / 416); multiple
 * ranges are ignored (200 with the whole body, as RFC 9110 allows).
 */
export function rangeReply(req: RecordedRequest, src: ByteSource, headers: Record<string, string> = {}): Reply {
  const base = { ...headers, 'accept-ranges': 'bytes' };
  const header = req.headers.range;
  if (typeof header === 'string' && header.startsWith('bytes=') && !header.includes(',')) {
    const spec = header.slice(6).trim();
    const m = /^(\d*)-(\d*)$/.exec(spec);
    if (m) {
      const size = src.size;
      let start: number;
      let end: number;
      if (m[1] === '' && m[2] !== '') {
        start = Math.max(0, size - Number(m[2]));
        end = size - 1;
      } else if (m[1] !== '') {
        start = Number(m[1]);
        end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
      } else {
        start = NaN;
        end = NaN;
      }
      if (!(start <= end) || start >= size) {
        return { status: 416, body: '', contentType: src.contentType, headers: { ...base, 'content-range': `bytes */${size}` } };
      }
      return {
        status: 206,
        body: sliceSource(src, start, end + 1),
        headers: { ...base, 'content-range': `bytes ${start}-${end}/${size}` },
      };
    }
  }
  return { status: 200, body: src, headers: base };
}

const PROXY_502 =
  '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';

function malformedReply(action: MalformedFault, real: Reply | undefined): Reply {
  const status = action.status ?? 200;
  if (action.body !== undefined) return textReply(status, action.body, 'application/json');
  switch (action.variant ?? 'truncated') {
    case 'html':
      return textReply(status, PROXY_502, 'text/html');
    case 'empty':
      return textReply(status, '', 'application/json');
    case 'garbage':
      return { status, body: Buffer.from([0x00, 0xff, 0x7b, 0x22, 0xfe, 0x0a, 0x1f, 0x8b, 0x08, 0x00]), contentType: 'application/json' };
    case 'unexpected':
      return textReply(status, '{"object":"unexpected","data":null,"status":42}', 'application/json');
    case 'truncated': {
      const body = real?.body;
      const text = typeof body === 'string' ? body : Buffer.isBuffer(body) ? body.toString('utf8') : '{"id":"video_0","status":"comp';
      return textReply(status, text.slice(0, Math.max(1, Math.floor(text.length / 2))), 'application/json');
    }
  }
}

/** Rebuilds bracket keys (`a[b]`, `a[]`) of multipart fields into nested objects/arrays. */
function setBracketKey(target: Record<string, unknown>, key: string, value: unknown): void {
  const m = /^([^[\]]+)((?:\[[^\]]*\])+)$/.exec(key);
  if (!m) {
    const existing = target[key];
    if (existing === undefined) target[key] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else target[key] = [existing, value];
    return;
  }
  const path = [m[1] as string, ...[...(m[2] as string).matchAll(/\[([^\]]*)\]/g)].map((x) => x[1] as string)];
  let cur: Record<string, unknown> | unknown[] = target;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i] as string;
    const last = i === path.length - 1;
    const nextIsArray = path[i + 1] === '';
    if (Array.isArray(cur)) {
      if (last) cur.push(value);
      else {
        const child: Record<string, unknown> | unknown[] = nextIsArray ? [] : {};
        cur.push(child);
        cur = child;
      }
      continue;
    }
    if (last) {
      cur[seg] = value;
      continue;
    }
    let child = cur[seg];
    if (!(Array.isArray(child) || isRecord(child))) {
      child = nextIsArray ? [] : {};
      cur[seg] = child;
    }
    cur = child as Record<string, unknown> | unknown[];
  }
}

async function parseBody(rec: RecordedRequest): Promise<void> {
  const ct = rec.contentType?.toLowerCase() ?? '';
  if (rec.rawBody.length === 0 && !ct.startsWith('multipart/')) {
    rec.bodyKind = 'none';
    return;
  }
  if (ct.startsWith('application/json') || ct.endsWith('+json')) {
    try {
      rec.json = JSON.parse(rec.rawBody.toString('utf8'));
      rec.bodyKind = 'json';
      if (isRecord(rec.json)) {
        rec.body = rec.json;
        for (const [k, v] of Object.entries(rec.json)) rec.fieldTypes[k] = jsonType(v);
      }
    } catch {
      rec.bodyKind = 'invalid-json';
    }
    return;
  }
  if (ct.startsWith('multipart/form-data')) {
    try {
      const form = await new Response(rec.rawBody, { headers: { 'content-type': rec.contentType ?? '' } }).formData();
      const fields: Record<string, string[]> = {};
      const files: UploadedFile[] = [];
      const body: Record<string, unknown> = {};
      for (const [name, value] of form.entries()) {
        const top = name.includes('[') ? name.slice(0, name.indexOf('[')) : name;
        if (typeof value === 'string') {
          (fields[name] ??= []).push(value);
          setBracketKey(body, name, value);
          rec.fieldTypes[top] = name === top ? 'string' : name.slice(top.length).startsWith('[]') ? 'array' : 'object';
        } else {
          const bytes = Buffer.from(await value.arrayBuffer());
          const file: UploadedFile = {
            field: name,
            filename: value.name,
            contentType: value.type,
            size: bytes.length,
            sha256: sha256Hex(bytes),
            bytes,
          };
          files.push(file);
          setBracketKey(body, name, file);
          rec.fieldTypes[top] = name === top ? 'file' : 'object';
        }
      }
      rec.form = { fields, files };
      rec.body = body;
      rec.bodyKind = 'multipart';
    } catch {
      rec.bodyKind = 'invalid-multipart';
    }
    return;
  }
  rec.bodyKind = 'other';
}

export function isUploadedFile(v: unknown): v is UploadedFile {
  return isRecord(v) && Buffer.isBuffer(v.bytes) && typeof v.sha256 === 'string';
}

/**
 * One fake HTTP server. Call `start()` once; `down()` / `up()` simulate an outage on the same
 * port (state is kept); `close()` releases everything.
 */
export class FakeServer {
  readonly requests: RecordedRequest[] = [];
  readonly events = new EventEmitter();
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private seq = 0;
  private portNo = 0;
  private closed = false;

  constructor(private readonly cfg: FakeServerConfig) {
    this.portNo = cfg.port ?? 0;
  }

  get name(): string {
    return this.cfg.name;
  }

  /** Origin, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  get url(): string {
    return `http://127.0.0.1:${this.portNo}`;
  }

  get port(): number {
    return this.portNo;
  }

  get isUp(): boolean {
    return this.server !== undefined;
  }

  /** Open connections right now. */
  get openConnections(): number {
    return this.sockets.size;
  }

  async start(): Promise<void> {
    await this.up();
  }

  /** Starts listening (again) on the same port. */
  async up(): Promise<void> {
    if (this.closed) throw new Error(`${this.cfg.name} fake is closed`);
    if (this.server) return;
    const server = createServer((req, res) => {
      void this.onRequest(req, res);
    });
    server.keepAliveTimeout = 30_000;
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
    });
    server.on('clientError', (_err, socket) => {
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.portNo, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    if (addr && typeof addr === 'object') this.portNo = addr.port;
    this.server = server;
  }

  /** Stops listening and drops every open connection (connections are refused until `up()`). */
  async down(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      for (const s of this.sockets) s.destroy();
    });
  }

  async close(): Promise<void> {
    await this.down();
    this.closed = true;
  }

  private baseLatency(): number {
    const l = this.cfg.latencyMs;
    if (l === undefined) return 0;
    if (typeof l === 'number') return l;
    return l.min + this.cfg.rng() * Math.max(0, l.max - l.min);
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.on('error', () => undefined);
    req.on('error', () => undefined);
    const at = wallNow();
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of req) chunks.push(chunk as Buffer);
    } catch {
      return;
    }
    const target = req.url ?? '/';
    const parsed = new URL(target, 'http://fake.invalid');
    const { route, jobId } = this.cfg.route(req.method ?? 'GET', parsed.pathname, parsed.searchParams);
    const ct = req.headers['content-type'];
    const rec: RecordedRequest = {
      seq: ++this.seq,
      server: this.cfg.name,
      at,
      method: req.method ?? 'GET',
      url: target,
      path: parsed.pathname,
      query: Object.fromEntries(parsed.searchParams.entries()),
      searchParams: parsed.searchParams,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      rawBody: Buffer.concat(chunks),
      contentType: ct,
      bodyKind: 'none',
      json: undefined,
      form: undefined,
      body: undefined,
      fieldTypes: {},
      route,
      jobId,
      faults: [],
      response: undefined,
    };
    await parseBody(rec);
    this.requests.push(rec);
    const max = this.cfg.maxRecordedRequests ?? 100_000;
    if (this.requests.length > max * 1.1) this.requests.splice(0, this.requests.length - max);
    this.events.emit('request', rec);

    const faults: ResolvedFaults = this.cfg.faults.resolve(rec);
    rec.faults = faults.applied;
    const delay = this.baseLatency() + faults.latencyMs;
    if (delay > 0) {
      await sleep(delay);
      if (res.destroyed) return this.finish(rec, { status: 0, bytesSent: 0, complete: false, aborted: true, reset: false, truncated: false });
    }

    const t = faults.terminal;
    let reply: Reply | undefined;
    const after = t !== undefined && t.type !== 'notFound' && (t.type === 'malformed' ? t.after !== false : t.after === true);
    if (t && !after) {
      if (t.type === 'reset') return this.reset(req, rec, undefined);
      if (t.type === 'hang') return this.hang(res, rec, undefined);
      if (t.type === 'malformed') reply = malformedReply(t, undefined);
      else if (t.type === 'error' || t.type === 'notFound') reply = this.cfg.faultReply(t, rec);
    }
    if (!reply) {
      let real: Reply;
      try {
        real = await this.cfg.handle(rec);
      } catch (err) {
        real = jsonReply(500, { error: { message: `fake ${this.cfg.name} handler crashed: ${String(err)}`, type: 'fake_error', param: null, code: null } });
      }
      if (t && after) {
        if (t.type === 'reset') return this.reset(req, rec, real);
        if (t.type === 'hang') return this.hang(res, rec, real);
        if (t.type === 'error') {
          reply = { ...this.cfg.faultReply(t, rec), ...(real.onSent ? { onSent: real.onSent } : {}) };
        } else if (t.type === 'malformed') {
          reply = { ...malformedReply(t, real), ...(real.onSent ? { onSent: real.onSent } : {}) };
        }
      }
      reply ??= real;
    }
    const result = await this.write(req, res, rec, reply, faults);
    this.finish(rec, result, reply);
  }

  private finish(rec: RecordedRequest, result: SendResult, reply?: Reply): void {
    rec.response = { ...result, endedAt: wallNow() };
    try {
      reply?.onSent?.(result);
    } finally {
      this.events.emit('response', rec);
    }
  }

  private reset(req: IncomingMessage, rec: RecordedRequest, real: Reply | undefined): void {
    const socket = req.socket;
    if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
    else socket.destroy();
    this.finish(rec, { status: 0, bytesSent: 0, complete: false, aborted: false, reset: true, truncated: false }, real);
  }

  private async hang(res: ServerResponse, rec: RecordedRequest, real: Reply | undefined): Promise<void> {
    if (!res.destroyed) await new Promise<void>((resolve) => res.once('close', () => resolve()));
    this.finish(rec, { status: 0, bytesSent: 0, complete: false, aborted: true, reset: false, truncated: false }, real);
  }

  private async write(req: IncomingMessage, res: ServerResponse, rec: RecordedRequest, reply: Reply, faults: ResolvedFaults): Promise<SendResult> {
    const result: SendResult = { status: reply.status, bytesSent: 0, complete: false, aborted: false, reset: false, truncated: false };
    if (res.destroyed) return { ...result, aborted: true };
    const body = reply.body;
    const src: ByteSource =
      body === undefined
        ? bufferSource(Buffer.alloc(0), reply.contentType ?? 'application/json')
        : typeof body === 'string' || Buffer.isBuffer(body)
          ? bufferSource(body, reply.contentType ?? 'application/json')
          : body;
    const headers: Record<string, string> = {
      ...(this.cfg.commonHeaders ? this.cfg.commonHeaders(rec) : {}),
      ...(reply.headers ?? {}),
      'content-type': reply.contentType ?? src.contentType,
      'content-length': String(src.size),
    };
    if (reply.status === 204 || reply.status === 304) delete headers['content-length'];
    res.writeHead(reply.status, headers);
    if (req.method === 'HEAD' || reply.status === 204 || reply.status === 304) {
      await new Promise<void>((resolve) => res.end(resolve));
      return { ...result, complete: true };
    }
    const tr = faults.truncate;
    const limit = tr ? Math.min(src.size, Math.max(0, Math.floor(tr.bytes ?? src.size * (tr.fraction ?? 0.5)))) : src.size;
    const bps = faults.throttle?.bytesPerSecond;
    const chunkSize = bps ? Math.max(1, Math.min(65_536, Math.floor(bps / 20))) : 65_536;
    const started = wallNow();
    let offset = 0;
    if (limit === 0 && tr) res.flushHeaders();
    while (offset < limit) {
      if (res.destroyed) return { ...result, bytesSent: offset, aborted: true };
      const n = Math.min(chunkSize, limit - offset);
      const ok = res.write(src.read(offset, offset + n));
      offset += n;
      result.bytesSent = offset;
      if (!ok) await waitDrain(res);
      if (bps) {
        const due = started + (offset / bps) * 1000;
        await sleep(due - wallNow());
      }
    }
    if (res.destroyed) return { ...result, aborted: true };
    if (tr && limit < src.size) {
      await new Promise<void>((resolve) => {
        res.write('', () => resolve());
      });
      await sleep(5);
      req.socket.destroy();
      return { ...result, truncated: true };
    }
    await new Promise<void>((resolve) => {
      res.once('close', resolve);
      res.end(resolve);
    });
    return { ...result, complete: !res.destroyed || res.writableFinished };
  }
}

function waitDrain(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
