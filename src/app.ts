import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { randomBytes } from 'node:crypto';
import { createBlobStore } from './assets/index.js';
import type { SweepView } from './assets/blobs.js';
import { Accounts } from './billing/accounts.js';
import { registerBilling } from './billing/hooks.js';
import { billingRoutes } from './billing/routes.js';
import { Ledger } from './billing/ledger.js';
import { PriceBook } from './billing/prices.js';
import { RateLimiter } from './billing/rate-limit.js';
import type { Config } from './config.js';
import { buildCatalog } from './core/catalog.js';
import type { ModelSpec } from './core/catalog.js';
import type { Gateway } from './core/gateway.js';
import { TaskService } from './core/service.js';
import { adminRoutes } from './admin/routes.js';
import { adminTaskRoutes } from './admin/tasks.js';
import { adminWebhookRoutes } from './admin/webhooks.js';
import { consoleApiRoutes } from './console/routes.js';
import { consoleStatic } from './console/static.js';
import { Events } from './events/index.js';
import { apimartErrorBody } from './dialects/apimart/errors.js';
import { apimartRoutes } from './dialects/apimart/routes.js';
import { redactTokenPath } from './channels/callbacks.js';
import { createUpstreams } from './channels/index.js';
import { testJobRoutes } from './channels/test-job.js';
import type { Upstreams } from './channels/index.js';
import { openaiRoutes } from './dialects/openai/routes.js';
import { registerAccess } from './http/auth.js';
import { openaiErrorBody, registerErrorHandling } from './http/errors.js';
import { modelRoutes } from './http/models.js';
import './http/types.js';
import { SandboxProvider } from './providers/sandbox/provider.js';
import type { Provider } from './providers/types.js';
import type { Resolver } from './net/ssrf.js';
import type { Db } from './store/db.js';
import { openDatabase } from './store/db.js';
import { KeyStore } from './store/keys.js';
import { TaskStore } from './store/tasks.js';
import type { EventRow } from './store/tasks.js';
import type { Task } from './core/task.js';
import { Secrets } from './util/secrets.js';
import { Worker } from './worker/worker.js';

export interface App {
  config: Config;
  server: FastifyInstance;
  gateway: Gateway;
  worker: Worker;
  db: Db;
  /** Start the worker and background sweeps (listen separately). */
  start(): void;
  close(): Promise<void>;
}

/**
 * Polling clients make most requests: log what changes state and what fails, one line per
 * request at its end, and not every successful status read.
 */
class QuietRequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, req: FastifyRequest, reply: FastifyReply): void {
    if (!error && reply.statusCode < 400 && (req.method === 'GET' || req.method === 'HEAD')) return;
    const line = { method: req.method, url: redactTokenPath(req.url), statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) };
    if (error) req.log.error({ ...line, err: error }, 'request failed');
    else req.log.info(line, 'request completed');
  }
}

export interface AppOptions {
  logger?: FastifyBaseLogger | boolean;
  now?: () => number;
  /** DNS resolver for outbound fetches of reference images (default: the system's; tests inject one). */
  resolver?: Resolver;
  /** Gateway-time ms per real ms when `now` runs compressed (benchmarks); timers scale by it. */
  timeScale?: number;
}

/** Never logged, whatever the level (credentials of clients, of the operator and of upstreams). */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["api-key"]',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers["api-key"]',
  '*.api_key',
  '*.apiKey',
  '*.credentials',
  '*.authorization',
];

/** Build the whole gateway from a validated configuration. */
export async function createApp(config: Config, opts: AppOptions = {}): Promise<App> {
  const now = opts.now ?? Date.now;
  const db = openDatabase(config.dataDir, { synchronous: config.sqlite.synchronous });
  const secrets = Secrets.load(config.dataDir, config.secretKey);
  const blobs = createBlobStore(config);
  const store = new TaskStore(db);
  const keys = new KeyStore(db);
  const service = new TaskService(db, store, blobs, { retentionMs: config.retentionHours * 3600_000, now });
  const catalog = buildCatalog(config.models.map((m) => ({ defaultSize: m.sizes[0]!, defaultSeconds: m.seconds[0]!, pricePerSecond: {}, ...m }) as ModelSpec));

  const prices = new PriceBook(db, catalog, config.billing.sandboxPricing);
  const ledger = new Ledger(db);
  registerBilling(service, keys, ledger, { maxInflight: config.limits.maxInflight });

  const events = new Events({ config, db, service, keys, secrets, now });

  const sandbox = new SandboxProvider(config.sandbox);
  // Channels need the server's logger, so they are made after it; routing reads them lazily.
  const lazy: { upstreams?: Upstreams } = {};

  const gateway: Gateway = {
    config,
    db,
    catalog,
    service,
    keys,
    blobs,
    reference: {
      limits: { maxBytes: config.images.maxBytes, maxPixels: config.images.maxPixels },
      net: config.net,
      fetch: {
        maxBytes: config.images.maxBytes,
        connectTimeoutMs: config.images.fetchConnectTimeoutMs,
        totalTimeoutMs: config.images.fetchTimeoutMs,
        maxRedirects: 3,
      },
      resolver: opts.resolver,
    },
    prices,
    ledger,
    accounts: new Accounts(db, keys, ledger),
    secrets,
    providerFor: (model, key, remixOf) => lazy.upstreams!.channels.providerFor(model, key, remixOf),
  };

  const requestIdPrefix = randomBytes(10).toString('hex');
  let requestCount = 0;
  const server = Fastify({
    logger: opts.logger ?? { level: config.logLevel, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    requestIdHeader: 'x-request-id',
    // Unique per process start plus a counter: cheap, and sortable within a process.
    genReqId: () => `req_${requestIdPrefix}${(++requestCount).toString(16).padStart(12, '0')}`,
    bodyLimit: 1024 * 1024,
    trustProxy: true,
    logController: new QuietRequestLog(),
  });
  // Many clients send Content-Type: application/json on bodiless DELETE/GET requests: allow it.
  const jsonParser = server.getDefaultJsonParser('error', 'ignore');
  server.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = String(body);
    if (text.trim() === '') done(null, undefined);
    else jsonParser(req, text, done);
  });
  await server.register(multipart, {
    limits: {
      fileSize: config.images.maxBytes,
      files: 4,
      fields: 64,
      fieldSize: Math.ceil(config.images.maxBytes * 1.4) + 1024,
      parts: 80,
    },
  });
  await blobs.init(server.log);
  const upstreams = createUpstreams({ config, db, store, blobs, secrets, catalog, prices, now, log: server.log, wake: () => worker.notify() });
  lazy.upstreams = upstreams;

  registerErrorHandling(server, { openai: openaiErrorBody, apimart: apimartErrorBody });
  registerAccess(server, {
    keys,
    adminToken: config.adminToken,
    limiter: new RateLimiter(),
    defaultRpm: config.limits.rpm,
    now,
    streamAuth: events.streamAuth,
  });
  server.get('/healthz', { config: { public: true } }, async () => {
    // Liveness: always 200. Storage trouble shows here (and in the error log) without a restart helping.
    const storage = blobs.health();
    return {
      status: storage.ok ? 'ok' : 'degraded',
      worker: { busy: worker.busy },
      storage: { kind: blobs.kind, ok: storage.ok, ...(storage.ok ? {} : { failing_since: new Date(storage.since!).toISOString(), error: storage.error }) },
    };
  });
  await server.register(modelRoutes(gateway));
  await server.register(openaiRoutes(gateway));
  await server.register(apimartRoutes(gateway));
  await server.register(billingRoutes(gateway));
  await server.register(adminRoutes(gateway));
  await server.register(events.routes(gateway));
  await server.register(upstreams.routes);
  await server.register(testJobRoutes(gateway, upstreams.channels));
  // The console (issue 7): its page, the key-facing endpoints it needs, and operator views.
  await server.register(consoleApiRoutes(gateway));
  await server.register(adminTaskRoutes(gateway, events));
  await server.register(adminWebhookRoutes(gateway, events));
  await server.register(consoleStatic(config));

  const providerOf = (task: Task): Provider => (!task.provider || task.provider === sandbox.id ? sandbox : upstreams.provider);
  const worker = new Worker(
    service,
    { service, blobs, provider: providerOf, log: server.log },
    { concurrency: config.worker.concurrency, leaseMs: config.worker.leaseMs, timeScale: opts.timeScale ?? 1 },
    server.log,
  );
  // A task cancelled or deleted before it finished: its upstream job is cancelled too, where the protocol can.
  service.events.on('event', (e: EventRow) => {
    if (e.type !== 'video.cancelled') return;
    const task = store.get(e.taskId);
    if (task?.upstreamId) void providerOf(task).cancel?.(task);
  });

  let sweeper: NodeJS.Timeout | undefined;
  return {
    config,
    server,
    gateway,
    worker,
    db,
    start() {
      if (config.worker.enabled) worker.start();
      events.start(server.log);
      upstreams.channels.start();
      const sweep = () =>
        service.expireAssets().catch((err: unknown) => server.log.warn({ err }, 'expiry sweep failed'));
      const view = (id: string): SweepView | undefined => {
        const t = store.get(id);
        if (!t) return undefined;
        // Read after the row: a finished task's results can only shrink (deletion, expiry) from here.
        const resultPrefixes = new Set(store.listAssets(id).map((a) => a.path.slice(0, a.path.lastIndexOf('/'))));
        return { finished: t.stage === 'done', deleted: t.deletedAt !== null, resultPrefixes };
      };
      void blobs
        .sweepOrphans(view, { perSecond: config.storage.sweepPerSecond, now: now() })
        .then((removed) => server.log.info({ removed }, 'orphan blob sweep finished'))
        .then(sweep)
        .catch((err: unknown) => server.log.warn({ err }, 'orphan sweep failed'));
      sweeper = setInterval(sweep, 60_000);
      sweeper.unref();
    },
    async close() {
      clearInterval(sweeper);
      // Stop accepting; give running requests (downloads) a moment, then cut what is left.
      const closing = server.close();
      const timer = setTimeout(() => server.server.closeAllConnections(), 3000);
      await closing;
      clearTimeout(timer);
      await worker.stop();
      await events.close();
      await upstreams.channels.close();
      blobs.close();
      db.close();
    },
  };
}
