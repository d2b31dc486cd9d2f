import { ApiError } from './core/errors.js';
import Fastify from 'fastify';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply } from 'fastify';
import type { Server } from 'node:http';
import multipart from '@fastify/multipart';
import { randomBytes } from 'node:crypto';
import { createBlobStore } from './assets/index.js';
import type { SweepView } from './assets/blobs.js';
import { Accounts } from './billing/accounts.js';
import { registerBilling } from './billing/hooks.js';
import { billingRoutes } from './billing/routes.js';
import { Ledger } from './billing/ledger.js';
import { PriceBook } from './billing/prices.js';
import type { Config } from './config.js';
import { catalogFromConfig } from './core/model-config.js';
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
import { createUpstreams } from './channels/index.js';
import { testJobRoutes } from './channels/test-job.js';
import type { Upstreams } from './channels/index.js';
import { openaiRoutes } from './dialects/openai/routes.js';
import { registerAccess } from './http/auth.js';
import { clientErrorHandler, frameworkError, openaiErrorBody, registerErrorHandling } from './http/errors.js';
import { registerBodyLimits } from './http/body.js';
import { openapiRoutes, RouteTable } from './http/openapi.js';
import { packageVersion } from './http/version.js';
import { route } from './http/route.js';
import { z } from 'zod';
import { modelRoutes } from './http/models.js';
import { configureSharp } from './media/sharp-setup.js';
import { prepareMediaTools } from './media/tools.js';
import './http/types.js';
import { SandboxProvider } from './providers/sandbox/provider.js';
import type { Provider } from './providers/types.js';
import type { Resolver } from './net/ssrf.js';
import { migrationsOf, openGatewayDatabase } from './store/db.js';
import type { Database } from './store/sql.js';
import { KeyStore } from './store/keys.js';
import { TaskStore } from './store/tasks.js';
import type { EventRow } from './store/tasks.js';
import type { Task } from './core/task.js';
import { Secrets } from './util/secrets.js';
import { Worker } from './worker/worker.js';
import { upstreamFacts } from './channels/provider.js';
import { blobWritable, LOOP_STALE_MS, Readiness } from './ops/health.js';
import { Metrics } from './ops/metrics.js';
import { metricsRoutes, startMetricsListener } from './ops/metrics-routes.js';
import { RequestLog } from './ops/request-log.js';
import { observeTasks } from './ops/telemetry.js';
import type { Telemetry } from './ops/telemetry.js';
import { loadTracing } from './ops/tracing.js';
import { createLimits } from './shared/index.js';
import type { LimitsBackend } from './shared/index.js';

export interface App {
  config: Config;
  server: FastifyInstance;
  gateway: Gateway;
  worker: Worker;
  db: Database;
  readiness: Readiness;
  telemetry: Telemetry;
  /** Every route Fastify registered (the OpenAPI document and the route fuzzer read it). */
  routes: RouteTable;
  /** The separate metrics listener (VIDGATE_METRICS_PORT), when there is one. */
  metricsServer?: Server;
  /** Start the worker and background sweeps (listen separately). */
  start(): void;
  /**
   * Drain and stop: readiness goes 503, then (after shutdown.delayMs) the listener closes, SSE
   * streams end with a retry hint, the worker and the webhook sender stop claiming and their
   * running steps get shutdown.graceMs to finish before being cut (their leases handed back).
   */
  close(): Promise<void>;
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
  // Before anything is opened: media tools that cannot run stop it with a message saying why.
  const toolNotes = await prepareMediaTools(config.dataDir);
  configureSharp();
  // The server's logger, once there is a server (the database opens first).
  const logs: { log?: FastifyBaseLogger } = {};
  const db = await openGatewayDatabase(config, {
    onListenError: (err) => logs.log?.warn({ err: err.message }, 'database notifications interrupted; caches are bypassed until they are back'),
  });
  const secrets = Secrets.load(config.dataDir, config.secretKey);
  const blobs = createBlobStore(config);
  const store = TaskStore.of(db);
  const keys = KeyStore.of(db);
  const service = new TaskService(db, store, blobs, { retentionMs: config.retentionHours * 3600_000, now });
  const catalog = catalogFromConfig(config.models);

  const prices = new PriceBook(db, catalog, config.billing.sandboxPricing);
  const ledger = new Ledger(db);
  // Channels and the worker are made after the server (they need its logger); metrics read them lazily.
  const lazy: { upstreams?: Upstreams; worker?: Worker; events?: Events; limits?: LimitsBackend } = {};
  const providerType = (id: string) => (id === 'sandbox' ? 'sandbox' : lazy.upstreams?.channels.get(id)?.def.type);
  const metricsOn = config.metrics.token !== undefined || config.metrics.port !== undefined;
  const metrics = metricsOn
    ? new Metrics({
        knownModel: (model) => catalog.get(model) !== undefined,
        providerType,
        backlog: async (at) => {
          const tasks = await store.unfinishedSummary(at);
          const hooks = await lazy.events!.webhooks.store.backlog();
          return {
            byStage: tasks.byStage,
            oldestDueAt: tasks.oldestDueAt,
            heldMicros: tasks.byStage.reduce((sum, s) => sum + s.heldMicros, 0),
            webhooksPending: hooks.pending,
            webhookOldestPendingAt: hooks.oldestCreatedAt,
            unresolvedSubmits: [...((await lazy.upstreams?.channels.unresolvedSubmits()) ?? [])].map(([channel, count]) => ({ channel, count })),
          };
        },
        breakers: (at) => lazy.upstreams!.channels.list().map((r) => ({ channel: r.def.id, provider: r.def.type, state: r.breaker.state(at) })),
        sharedLimits: () => ({ ...lazy.limits!.health(), outages: lazy.limits!.outages() }),
        sseClients: () => lazy.events!.hub.subscribers,
        workerBusy: () => lazy.worker!.busy,
        now,
      })
    : undefined;
  registerBilling(service, keys, ledger, { maxInflight: config.limits.maxInflight }, metrics);

  const events = new Events({ config, db, service, keys, secrets, now, metrics });
  lazy.events = events;

  const sandbox = new SandboxProvider(config.sandbox, (ms) => metrics?.sandboxRender(ms));

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
    refusal: (request, provider) => lazy.upstreams!.channels.refusal(request, provider),
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
    // Slow clients: the whole request (headers and body) within requestTimeoutMs, else a 408.
    requestTimeout: config.http.requestTimeoutMs,
    http: { headersTimeout: config.http.headersTimeoutMs, connectionsCheckingInterval: Math.min(1000, config.http.requestTimeoutMs) },
    // Errors before routing (an over-long path parameter, a malformed URL) and on the socket
    // (headers too large, a request too slow) answer in the documented error envelope.
    frameworkErrors: (err, req, reply) => {
      const code = (err as { code?: string }).code;
      const status = code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : 400;
      void (reply as FastifyReply).code(status).type('application/json').header('x-request-id', req.id).send(openaiErrorBody(frameworkError(status, code)));
    },
    clientErrorHandler: clientErrorHandler,
    // Requests arriving while the gateway closes get a 503 in the route's own envelope (below),
    // not Fastify's bare one.
    return503OnClosing: false,
    logController: new RequestLog(metrics),
  });
  logs.log = server.log;
  const routeTable = new RouteTable();
  routeTable.attach(server);
  registerBodyLimits(server);
  const telemetry: Telemetry = { metrics, tracing: await loadTracing(process.env, server.log) };
  telemetry.tracing?.instrument(server);
  observeTasks(service, telemetry, server.log.child({ component: 'tasks' }), { providerType, upstreamFacts });
  // Many clients send Content-Type: application/json on bodiless DELETE/GET requests: allow it.
  const jsonParser = server.getDefaultJsonParser('error', 'ignore');
  server.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = String(body);
    if (text.trim() === '') done(null, undefined);
    else void jsonParser(req, text, done);
  });
  await server.register(multipart, {
    limits: {
      fileSize: config.images.maxBytes,
      files: 16,
      fields: 64,
      fieldSize: Math.ceil(config.images.maxBytes * 1.4) + 1024,
      parts: 80,
    },
  });
  for (const note of toolNotes) server.log.warn(note);
  await blobs.init(server.log);
  const limits = createLimits(config, server.log.child({ component: 'shared-limits' }), now);
  lazy.limits = limits;
  // Events committed here wake streams on the other nodes at once (Redis pub/sub, or LISTEN/NOTIFY on PostgreSQL; else they poll).
  service.events.on('event', () => limits.signals.eventsCommitted());
  limits.signals.onRemoteEvents(() => {
    events.hub.poke();
    events.loop.notify();
  });
  const upstreams = await createUpstreams({ config, db, store, blobs, secrets, catalog, prices, now, log: server.log, telemetry, wake: () => worker.notify(), limits });
  lazy.upstreams = upstreams;

  registerErrorHandling(server, { openai: openaiErrorBody, apimart: apimartErrorBody });
  let stopping = false;
  server.addHook('onRequest', (_req, reply, done) => {
    if (!stopping) return done();
    reply.header('connection', 'close');
    done(
      new ApiError({
        status: 503,
        type: 'server_error',
        code: 'shutting_down',
        message: 'This gateway is shutting down and takes no new requests; retry in a moment (another node, or this one once restarted, will answer).',
        headers: { 'retry-after': '1' },
      }),
    );
  });
  registerAccess(server, {
    keys,
    adminToken: config.adminToken,
    limiter: limits.keyLimiter(),
    defaultRpm: config.limits.rpm,
    now,
    streamAuth: events.streamAuth,
  });
  route(
    server,
    {
      method: 'GET',
      url: '/healthz',
      tag: 'Operations',
      summary: 'Liveness',
      description:
        'Always 200 while the process runs; storage trouble, and limits kept per node while their shared store (Redis, or PostgreSQL) is unreachable, show as degraded (a restart would not help).',
      auth: 'public',
      responses: {
        200: z.object({
          status: z.enum(['ok', 'degraded']),
          worker: z.object({ busy: z.number() }),
          storage: z.object({ kind: z.string(), ok: z.boolean(), failing_since: z.string().optional(), error: z.string().optional() }),
          shared_limits: z.object({ backend: z.enum(['memory', 'redis', 'postgres']), ok: z.boolean(), failing_since: z.string().optional(), error: z.string().optional() }),
        }),
      },
    },
    async () => {
      // Liveness: always 200. Storage trouble shows here (and in the error log) without a restart helping.
      const storage = blobs.health();
      const shared = limits.health();
      return {
        status: storage.ok && shared.ok ? 'ok' : 'degraded',
        worker: { busy: worker.busy },
        storage: { kind: blobs.kind, ok: storage.ok, ...(storage.ok ? {} : { failing_since: new Date(storage.since!).toISOString(), error: storage.error }) },
        shared_limits: shared,
      };
    },
  );
  const readiness = new Readiness()
    .add('store', async () => {
      await db.ping();
      return null;
    })
    .add('migrations', async () => {
      const m = await migrationsOf(db);
      if (m.unknown.length) return `the database has migrations this build does not know (${m.unknown.join(', ')})`;
      return m.pending.length ? `not applied: ${m.pending.join(', ')}` : null;
    })
    .add('blobs', blobWritable(blobs));
  if (config.worker.enabled) readiness.add('worker', () => worker.problem(LOOP_STALE_MS));
  if (config.webhooks.enabled) readiness.add('webhooks', () => events.loop.problem(LOOP_STALE_MS));
  await server.register(readiness.routes());
  await server.register(metricsRoutes(metrics, { token: config.metrics.token, port: config.metrics.port, host: config.metrics.host ?? config.host }));
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
  await server.register(openapiRoutes(routeTable, { version: packageVersion(), serverUrl: config.publicUrl }));

  const providerOf = (task: Task): Provider => (!task.provider || task.provider === sandbox.id ? sandbox : upstreams.provider);
  const worker = new Worker(
    service,
    { service, blobs, provider: providerOf, log: server.log },
    { concurrency: config.worker.concurrency, leaseMs: config.worker.leaseMs, timeScale: opts.timeScale ?? 1, telemetry },
    server.log,
  );
  lazy.worker = worker;
  // A task cancelled or deleted before it finished: its upstream job is cancelled too, where the protocol can.
  service.events.on('event', (e: EventRow) => {
    if (e.type !== 'video.cancelled') return;
    void store.get(e.taskId).then(
      (task) => {
        if (task?.upstreamId) void providerOf(task).cancel?.(task);
      },
      () => undefined,
    );
  });
  const metricsServer =
    metrics && config.metrics.port !== undefined
      ? await startMetricsListener(metrics, { token: config.metrics.token, port: config.metrics.port, host: config.metrics.host ?? config.host })
      : undefined;

  let sweeper: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;
  const drain = async (): Promise<void> => {
    const { delayMs, graceMs } = config.shutdown;
    readiness.drain();
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    clearInterval(sweeper);
    // Stop accepting (SSE streams end with a retry hint in a preClose hook); requests in flight
    // (downloads) get the grace period, then what is left is cut. Meanwhile the loops stop
    // claiming and their running steps finish or are aborted with their leases handed back.
    stopping = true;
    const listening = server.close();
    const cut = setTimeout(() => server.server.closeAllConnections(), graceMs);
    await Promise.all([listening.finally(() => clearTimeout(cut)), worker.stop(graceMs), events.close(graceMs)]);
    await upstreams.channels.close();
    await limits.close();
    if (metricsServer) await new Promise((r) => metricsServer.close(r));
    await telemetry.tracing?.shutdown();
    blobs.close();
    await db.close();
  };
  return {
    config,
    server,
    gateway,
    worker,
    db,
    readiness,
    telemetry,
    routes: routeTable,
    metricsServer,
    start() {
      if (config.worker.enabled) worker.start();
      events.start(server.log);
      upstreams.channels.start();
      const sweep = () =>
        service.expireAssets().catch((err: unknown) => server.log.warn({ err }, 'expiry sweep failed'));
      const view = async (id: string): Promise<SweepView | undefined> => {
        const t = await store.get(id);
        if (!t) return undefined;
        // Read after the row: a finished task's results can only shrink (deletion, expiry) from here.
        const resultPrefixes = new Set((await store.listAssets(id)).map((a) => a.path.slice(0, a.path.lastIndexOf('/'))));
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
    close() {
      closing ??= drain();
      return closing;
    },
  };
}
