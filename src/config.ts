import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UPSTREAM_ENV, upstreamConfigSchema } from './channels/config.js';
import { resolveCredentialSources } from './channels/credentials.js';
import { channelConfigSchema } from './channels/schema.js';
import { ModelConfigError } from './core/catalog.js';
import { catalogFromConfig, modelEntrySchema } from './core/model-config.js';
import { assertValidNetPolicy } from './net/ssrf.js';
import { DatabaseUrlError, parseDatabaseUrl } from './store/url.js';

/**
 * Configuration comes from environment variables and, optionally, a YAML/JSON file named by
 * VIDGATE_CONFIG (environment variables win). Everything is validated at start-up; an invalid
 * setting stops the gateway with a message naming the variable.
 */
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['true', '1', 'yes'].includes(v))]);
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const num = (min: number) => z.coerce.number().min(min);
/** A list from YAML, or a comma-separated string from an environment variable. */
const list = z.union([z.array(z.string()), z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))]);

export const configSchema = z.object({
  port: int(0, 65535).default(8080),
  host: z.string().min(1).default('0.0.0.0'),
  dataDir: z.string().min(1).default('./data'),
  /** The database (docs/database.md): sqlite:PATH (or a file path), or postgres://…. Unset: <dataDir>/vidgate.db. */
  databaseUrl: z
    .string()
    .superRefine((url, ctx) => {
      try {
        parseDatabaseUrl(url);
      } catch (err) {
        if (!(err instanceof DatabaseUrlError)) throw err;
        ctx.addIssue({ code: 'custom', message: err.message });
      }
    })
    .optional(),
  /** PostgreSQL: connections this node opens at most for its queries (limits and LISTEN use a few more). */
  databasePoolSize: z.coerce.number().int().min(2).max(500).default(10),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Absolute base URL clients reach the gateway at (for links in responses). Derived from the request when unset. */
  publicUrl: z
    .string()
    .url('must be an absolute URL such as https://videos.example.com')
    .refine((u) => {
      if (!URL.canParse(u)) return true; // reported by .url() above
      const url = new URL(u);
      return (url.protocol === 'http:' || url.protocol === 'https:') && !url.search && !url.hash && !url.username && !url.password;
    }, 'must be an http(s) URL without query, fragment or credentials, such as https://videos.example.com')
    .optional(),
  /** Bearer token of the operator (admin API, console, CLI remote mode). Unset = admin API disabled. */
  adminToken: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Prometheus metrics (docs/operations.md): on when a token or a port is set. */
  metrics: z.object({
    /** Bearer token that opens GET /metrics on the API port (and on the metrics port). */
    token: z.string().min(16, 'must be at least 16 characters').optional(),
    /** A separate listener serving only GET /metrics (0 = any free port). */
    port: int(0, 65535).optional(),
    /** Interface of the metrics listener (default: HOST). */
    host: z.string().min(1).optional(),
  }).default({}),
  /** SIGTERM: readiness goes 503, then after delayMs the node stops taking work and drains. */
  shutdown: z.object({
    /** Time between readiness going 503 and the listener closing (for load balancers to notice). */
    delayMs: int(0, 600_000).default(0),
    /** How long running task steps, deliveries and requests may take to finish before they are cut (their leases handed back). */
    graceMs: int(0, 600_000).default(10_000),
  }).default({ delayMs: 0, graceMs: 10_000 }),
  /** Limits on what clients may send (docs/configuration.md#request-limits). */
  http: z.object({
    /** Time to receive a whole request, headers and body; a slower one is cut off with a 408. */
    requestTimeoutMs: int(1000, 3_600_000).default(60_000),
    /** Time to receive the request headers. */
    headersTimeoutMs: int(1000, 600_000).default(20_000),
  }).default({ requestTimeoutMs: 60_000, headersTimeoutMs: 20_000 }),
  /** Master key for secrets at rest (else <dataDir>/master.key is created). */
  secretKey: z.string().optional(),
  /** 'openai' emits `queued`; 'apigo' emits `pending` for waiting tasks (for clients built against apigo). */
  statusStyle: z.enum(['openai', 'apigo']).default('openai'),
  /** Hint sent as openai-poll-after-ms on GET /v1/videos/{id}. */
  pollAfterMs: int(100).default(2000),
  /** How long finished videos stay downloadable, in hours (0 = keep forever). */
  retentionHours: num(0).default(168),
  images: z.object({
    maxBytes: int(1024).default(10 * 1024 * 1024),
    maxPixels: int(1).default(40_000_000),
    fetchConnectTimeoutMs: int(100).default(5000),
    fetchTimeoutMs: int(100).default(20_000),
  }).default({ maxBytes: 10 * 1024 * 1024, maxPixels: 40_000_000, fetchConnectTimeoutMs: 5000, fetchTimeoutMs: 20_000 }),
  /** Outbound requests (image URLs, webhooks) refuse private addresses except these. */
  net: z.object({
    allowHosts: list.default([]),
    allowCidrs: list.default([]),
  }).default({ allowHosts: [], allowCidrs: [] }),
  /** Signed result links (apimart `result.videos[].url`): usable without an API key until they expire. */
  signedUrls: z.object({
    /** Lifetime of a link from when it is handed out, in hours; never beyond the file's retention. */
    ttlHours: z.coerce.number().positive('must be a positive number of hours').max(8760, 'must be at most 8760 hours (one year)').default(72),
  }).default({ ttlHours: 72 }),
  sandbox: z.object({
    /** Simulated queue time before a sandbox task starts, in ms. */
    queueMs: int(0).default(300),
    /** Simulated generation time per second of video, in ms (progress rises over this time). */
    msPerVideoSecond: int(0).default(250),
    /** Queue time for the documented "long queue" magic prompt, in ms. */
    longQueueMs: int(0).default(60_000),
    /** Renders running at once. */
    concurrency: int(1, 64).default(2),
  }).default({ queueMs: 300, msPerVideoSecond: 250, longQueueMs: 60_000, concurrency: 2 }),
  worker: z.object({
    enabled: bool.default(true),
    /** Tasks driven at once by this process. */
    concurrency: int(1, 10_000).default(64),
    /** A claimed task is locked for this long and renewed while it is being worked on. */
    leaseMs: int(1000).default(15_000),
  }).default({ enabled: true, concurrency: 64, leaseMs: 15_000 }),
  billing: z.object({
    /** 'free': sandbox renders cost nothing; 'catalogue': they are charged like real ones (to rehearse billing). */
    sandboxPricing: z.enum(['free', 'catalogue']).default('free'),
  }).default({ sandboxPricing: 'free' }),
  /** Operator defaults; each key can override them. */
  limits: z.object({
    /** API requests per minute per key. */
    rpm: int(1).default(1200),
    /** Unfinished videos per key at once. */
    maxInflight: int(1).default(100),
  }).default({ rpm: 1200, maxInflight: 100 }),
  /**
   * Limits and circuit breakers shared by every gateway node through Redis (docs/operations.md#several-nodes).
   * Unset url: each process keeps them in its own memory.
   */
  redis: z.object({
    url: z
      .string()
      .refine((u) => URL.canParse(u) && ['redis:', 'rediss:'].includes(new URL(u).protocol), 'must be a redis:// or rediss:// URL, such as redis://127.0.0.1:6379/0')
      .optional(),
    /** Prefix of every key vidgate writes (several gateways can share one Redis under different prefixes). */
    prefix: z.string().min(1).max(100).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces').default('vidgate:'),
    /** A channel's concurrency slot held by a node that died comes back after this long (renewed while held). */
    leaseMs: int(1000, 600_000).default(30_000),
    /** A Redis command that takes longer counts as an outage: the in-process limits apply until it answers again. */
    timeoutMs: int(10, 10_000).default(250),
  }).default({ prefix: 'vidgate:', leaseMs: 30_000, timeoutMs: 250 }),
  sqlite: z.object({
    /** NORMAL survives process crashes (WAL); FULL also survives power loss at some cost per commit. */
    synchronous: z.enum(['NORMAL', 'FULL']).default('NORMAL'),
  }).default({ synchronous: 'NORMAL' }),
  /** Webhook deliveries (endpoints and one-off callback_url). See docs/webhooks.md. */
  webhooks: z.object({
    /** Run the delivery loop in this process (the outbox is filled regardless). */
    enabled: bool.default(true),
    /** Whole-request timeout of one delivery attempt. */
    timeoutMs: int(100, 120_000).default(10_000),
    /** Deliveries in flight at once in this process, and per target (endpoint or callback URL). */
    concurrency: int(1, 1000).default(32),
    perTargetConcurrency: int(1, 100).default(4),
    /** Retry delay after the n-th failed attempt: min(maxDelayMs, baseMs × multiplier^(n-1)), ±20 % jitter. */
    retryBaseMs: int(1).default(5000),
    retryMultiplier: num(1).default(3),
    retryMaxDelayMs: int(1).default(6 * 3600_000),
    /** A delivery is retried for this long after its event, then given up. */
    maxAgeHours: num(0).default(72),
    /** Delivered and given-up deliveries (with their attempts) are kept this long. */
    retentionDays: num(0).default(30),
  }).default({
    enabled: true, timeoutMs: 10_000, concurrency: 32, perTargetConcurrency: 4, retryBaseMs: 5000, retryMultiplier: 3,
    retryMaxDelayMs: 6 * 3600_000, maxAgeHours: 72, retentionDays: 30,
  }),
  /** Server-Sent Event streams (GET /v1/videos/{id}/events, GET /v1/events). */
  sse: z.object({
    /** Comment line sent when a stream has been idle this long (keeps proxies from closing it). */
    heartbeatMs: int(100).default(15_000),
    /** How often events committed by other processes sharing the database are picked up. */
    pollMs: int(20).default(1000),
    /** Lifetime of stream tokens (?access_token= for EventSource), in seconds, unless asked shorter. */
    tokenTtlSeconds: int(10, 86_400).default(3600),
  }).default({ heartbeatMs: 15_000, pollMs: 1000, tokenTtlSeconds: 3600 }),
  /** Where blobs are kept and how content is delivered (docs/configuration.md, "Storage"). */
  storage: z.object({
    /** An S3-compatible bucket instead of <dataDir>/blobs (set `bucket` to use it). */
    s3: z.object({
      bucket: z.string().min(3, 'must be a bucket name').optional(),
      /** For services other than AWS (MinIO, R2, Ceph, …): their endpoint URL. */
      endpoint: z.string().url('must be a URL such as http://127.0.0.1:9000').optional(),
      region: z.string().min(1).default('us-east-1'),
      /** Path-style URLs (endpoint/bucket/key), as most self-hosted services want. */
      forcePathStyle: bool.default(false),
      /** Config-file credentials; else the standard AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or profiles, roles). */
      accessKeyId: z.string().min(1).optional(),
      secretAccessKey: z.string().min(1).transform((v) => new Secret(v)).optional(),
      /** Files larger than this are uploaded in parts of this size (MiB, at least 5). */
      partSizeMb: int(5, 5000).default(16),
    }).default({ region: 'us-east-1', forcePathStyle: false, partSizeMb: 16 }),
    /**
     * How content downloads are delivered: `stream` (through the gateway), `redirect` (a 302 to
     * a short-lived presigned URL; S3 only), or a hand-off to the proxy in front of the gateway
     * after authorisation: `x-accel-redirect` (nginx) or `x-sendfile` (Apache, lighttpd); local only.
     */
    delivery: z.enum(['stream', 'redirect', 'x-accel-redirect', 'x-sendfile']).default('stream'),
    /** Lifetime of presigned URLs in `redirect` delivery. */
    redirectTtlSeconds: int(1, 604_800).default(300),
    /** The proxy's internal location that maps onto <dataDir>/blobs/ (x-accel-redirect). */
    accelPrefix: z.string().regex(/^\/(?:[^?#]*\/)?$/, 'must be a path that starts and ends with /, such as /_vidgate_blobs/').default('/_vidgate_blobs/'),
    /** Task folders the start-up orphan sweep examines per second. */
    sweepPerSecond: int(1).default(2000),
  }).default({
    s3: { region: 'us-east-1', forcePathStyle: false, partSizeMb: 16 },
    delivery: 'stream', redirectTtlSeconds: 300, accelPrefix: '/_vidgate_blobs/', sweepPerSecond: 2000,
  }),
  /** Models added to or changed in the built-in catalogue (core/model-config.ts, docs/models.md). */
  models: z.array(modelEntrySchema).default([]),
  /** Upstream routing, polling and download settings (channels/config.ts). */
  upstream: upstreamConfigSchema,
  /** Upstream channels defined in the config file (docs/providers.md); synced into the database at start. */
  channels: z.array(channelConfigSchema).default([]),
});

export type Config = z.infer<typeof configSchema>;

/** Environment variable → config path. */
const ENV_MAP: Record<string, string> = {
  PORT: 'port',
  HOST: 'host',
  VIDGATE_DATA_DIR: 'dataDir',
  VIDGATE_DATABASE_URL: 'databaseUrl',
  VIDGATE_DATABASE_POOL_SIZE: 'databasePoolSize',
  LOG_LEVEL: 'logLevel',
  VIDGATE_PUBLIC_URL: 'publicUrl',
  VIDGATE_ADMIN_TOKEN: 'adminToken',
  VIDGATE_SECRET_KEY: 'secretKey',
  VIDGATE_METRICS_TOKEN: 'metrics.token',
  VIDGATE_METRICS_PORT: 'metrics.port',
  VIDGATE_METRICS_HOST: 'metrics.host',
  VIDGATE_SHUTDOWN_DELAY_MS: 'shutdown.delayMs',
  VIDGATE_SHUTDOWN_GRACE_MS: 'shutdown.graceMs',
  VIDGATE_REQUEST_TIMEOUT_MS: 'http.requestTimeoutMs',
  VIDGATE_HEADERS_TIMEOUT_MS: 'http.headersTimeoutMs',
  VIDGATE_STATUS_STYLE: 'statusStyle',
  VIDGATE_POLL_AFTER_MS: 'pollAfterMs',
  VIDGATE_RETENTION_HOURS: 'retentionHours',
  VIDGATE_MAX_IMAGE_BYTES: 'images.maxBytes',
  VIDGATE_MAX_IMAGE_PIXELS: 'images.maxPixels',
  VIDGATE_IMAGE_FETCH_TIMEOUT_MS: 'images.fetchTimeoutMs',
  VIDGATE_IMAGE_FETCH_CONNECT_TIMEOUT_MS: 'images.fetchConnectTimeoutMs',
  VIDGATE_SIGNED_URL_TTL_HOURS: 'signedUrls.ttlHours',
  VIDGATE_ALLOW_HOSTS: 'net.allowHosts',
  VIDGATE_ALLOW_CIDRS: 'net.allowCidrs',
  VIDGATE_SANDBOX_QUEUE_MS: 'sandbox.queueMs',
  VIDGATE_SANDBOX_MS_PER_SECOND: 'sandbox.msPerVideoSecond',
  VIDGATE_SANDBOX_LONG_QUEUE_MS: 'sandbox.longQueueMs',
  VIDGATE_SANDBOX_CONCURRENCY: 'sandbox.concurrency',
  VIDGATE_WORKER: 'worker.enabled',
  VIDGATE_WORKER_CONCURRENCY: 'worker.concurrency',
  VIDGATE_LEASE_MS: 'worker.leaseMs',
  VIDGATE_SQLITE_SYNCHRONOUS: 'sqlite.synchronous',
  VIDGATE_SANDBOX_PRICING: 'billing.sandboxPricing',
  VIDGATE_RPM_LIMIT: 'limits.rpm',
  VIDGATE_MAX_INFLIGHT: 'limits.maxInflight',
  VIDGATE_REDIS_URL: 'redis.url',
  VIDGATE_REDIS_PREFIX: 'redis.prefix',
  VIDGATE_REDIS_LEASE_MS: 'redis.leaseMs',
  VIDGATE_REDIS_TIMEOUT_MS: 'redis.timeoutMs',
  VIDGATE_WEBHOOKS: 'webhooks.enabled',
  VIDGATE_WEBHOOK_TIMEOUT_MS: 'webhooks.timeoutMs',
  VIDGATE_WEBHOOK_CONCURRENCY: 'webhooks.concurrency',
  VIDGATE_WEBHOOK_RETRY_BASE_MS: 'webhooks.retryBaseMs',
  VIDGATE_WEBHOOK_RETRY_MULTIPLIER: 'webhooks.retryMultiplier',
  VIDGATE_WEBHOOK_RETRY_MAX_DELAY_MS: 'webhooks.retryMaxDelayMs',
  VIDGATE_WEBHOOK_MAX_AGE_HOURS: 'webhooks.maxAgeHours',
  VIDGATE_WEBHOOK_RETENTION_DAYS: 'webhooks.retentionDays',
  VIDGATE_SSE_HEARTBEAT_MS: 'sse.heartbeatMs',
  VIDGATE_SSE_POLL_MS: 'sse.pollMs',
  VIDGATE_SSE_TOKEN_TTL_SECONDS: 'sse.tokenTtlSeconds',
  VIDGATE_S3_BUCKET: 'storage.s3.bucket',
  VIDGATE_S3_ENDPOINT: 'storage.s3.endpoint',
  VIDGATE_S3_REGION: 'storage.s3.region',
  VIDGATE_S3_FORCE_PATH_STYLE: 'storage.s3.forcePathStyle',
  VIDGATE_S3_PART_SIZE_MB: 'storage.s3.partSizeMb',
  VIDGATE_CONTENT_DELIVERY: 'storage.delivery',
  VIDGATE_CONTENT_REDIRECT_TTL_SECONDS: 'storage.redirectTtlSeconds',
  VIDGATE_X_ACCEL_PREFIX: 'storage.accelPrefix',
  VIDGATE_BLOB_SWEEP_PER_SECOND: 'storage.sweepPerSecond',
  ...UPSTREAM_ENV,
};

export const ENV_VARIABLES = Object.keys(ENV_MAP);

export class ConfigError extends Error {}

/** A credential from the config: its value never shows in logs, JSON or inspection. */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toJSON(): string {
    return '[redacted]';
  }
  toString(): string {
    return '[redacted]';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[redacted]';
  }
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = target;
  for (const p of parts.slice(0, -1)) {
    if (typeof node[p] !== 'object' || node[p] === null) node[p] = {};
    node = node[p] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

function readFileConfig(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`VIDGATE_CONFIG: cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    const parsed: unknown = /\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text);
    if (parsed === null || parsed === undefined) return {};
    if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('the top level must be a mapping');
    return parsed as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`VIDGATE_CONFIG: ${file} is not valid ${/\.json$/i.test(file) ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
}

/** Build the configuration from the environment (and the file it names), plus explicit overrides. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Record<string, unknown> = {}): Config {
  const raw: Record<string, unknown> = env.VIDGATE_CONFIG ? readFileConfig(env.VIDGATE_CONFIG) : {};
  const fromEnv = new Map<string, string>();
  for (const [name, dotted] of Object.entries(ENV_MAP)) {
    const value = env[name];
    if (value !== undefined && value !== '') {
      setPath(raw, dotted, value);
      fromEnv.set(dotted, name);
    }
  }
  const merged = deepMerge(raw, overrides);
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const dotted = issue.path.join('.');
      const source = fromEnv.get(dotted) ?? (dotted ? `${modelLabel(merged, issue.path)}${dotted} (config file)` : 'config');
      return `  ${source}: ${issue.message}`;
    });
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const config = result.data;
  config.dataDir = path.resolve(config.dataDir);
  const problems = config.channels.flatMap((c, i) => resolveCredentialSources(c as Record<string, unknown>, env, `channels.${i}`));
  if (problems.length) throw new ConfigError(`Invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  try {
    catalogFromConfig(config.models);
  } catch (err) {
    if (err instanceof ModelConfigError) throw new ConfigError(`Invalid configuration:\n  models (config file): ${err.message}`);
    throw err;
  }
  const s3 = config.storage.s3;
  const storageProblem = !s3.bucket
    ? config.storage.delivery === 'redirect' && 'VIDGATE_CONTENT_DELIVERY: redirect needs an S3 bucket (VIDGATE_S3_BUCKET); use stream or a proxy hand-off with local storage'
    : config.storage.delivery === 'x-accel-redirect' || config.storage.delivery === 'x-sendfile'
      ? `VIDGATE_CONTENT_DELIVERY: ${config.storage.delivery} hands local files to the proxy; with an S3 bucket use redirect (or stream)`
      : !!s3.accessKeyId !== !!s3.secretAccessKey && 'storage.s3.accessKeyId and storage.s3.secretAccessKey (config file): give both or neither';
  if (storageProblem) throw new ConfigError(`Invalid configuration:\n  ${storageProblem}`);
  try {
    assertValidNetPolicy(config.net);
  } catch (err) {
    throw new ConfigError(`Invalid configuration:\n  VIDGATE_ALLOW_HOSTS / VIDGATE_ALLOW_CIDRS: ${(err as Error).message}`);
  }
  return config;
}

/** "model 'x': " before a config issue under models.N, so the message names the model. */
function modelLabel(raw: Record<string, unknown>, at: PropertyKey[]): string {
  if (at[0] !== 'models' || typeof at[1] !== 'number') return '';
  const entry = (raw.models as unknown[] | undefined)?.[at[1]] as { id?: unknown } | undefined;
  return typeof entry?.id === 'string' ? `model '${entry.id}': ` : '';
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isPlainObject(prev) && isPlainObject(v) ? deepMerge(prev, v) : v;
  }
  return out;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
