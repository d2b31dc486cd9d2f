import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { unauthorized } from '../core/errors.js';
import type { Gateway } from '../core/gateway.js';
import type { TaskService } from '../core/service.js';
import type { Metrics } from '../ops/metrics.js';
import type { Database } from '../store/sql.js';
import type { ApiKey, KeyStore } from '../store/keys.js';
import type { Secrets } from '../util/secrets.js';
import { DeliveryLoop } from './delivery-loop.js';
import { EventHub } from './hub.js';
import { registerOutbox } from './outbox.js';
import { isWebhookEventType } from './payload.js';
import { webhookRoutes } from './routes.js';
import { sseRoutes } from './sse.js';
import type { StreamGrant } from './stream-tokens.js';
import { StreamTokens } from './stream-tokens.js';
import { WebhookService } from './webhooks.js';

export interface EventsDeps {
  config: Config;
  db: Database;
  service: TaskService;
  keys: KeyStore;
  secrets: Secrets;
  now: () => number;
  metrics?: Metrics;
}

/**
 * Push instead of poll: the webhook outbox (filled in the transaction of each task event), the
 * delivery loop, the live event hub and the SSE and webhook routes. See docs/webhooks.md.
 */
export class Events {
  readonly webhooks: WebhookService;
  readonly loop: DeliveryLoop;
  readonly hub: EventHub;
  readonly streamTokens: StreamTokens;
  private readonly grants = new WeakMap<FastifyRequest, StreamGrant>();
  private log: FastifyBaseLogger | null = null;

  constructor(private readonly deps: EventsDeps) {
    const { config, db, service } = deps;
    const maxAgeMs = config.webhooks.maxAgeHours * 3600_000;
    this.webhooks = new WebhookService(db, deps.secrets, { now: deps.now, maxAgeMs });
    registerOutbox(service, this.webhooks.store, { maxAgeMs });
    this.loop = new DeliveryLoop(db, this.webhooks, config.webhooks, config.net, () => this.logger(), deps.metrics);
    this.hub = new EventHub(db, service.events, config.sse.pollMs);
    this.streamTokens = new StreamTokens(deps.secrets.derive('stream-tokens'));
    // Wake the delivery loop as soon as a deliverable event commits in this process.
    service.events.on('event', (e: { type: string }) => {
      if (isWebhookEventType(e.type)) this.loop.notify();
    });
  }

  /** For registerAuth: a stream token's key on event-stream routes (a bad or expired one is a 401). */
  readonly streamAuth = (token: string, req: FastifyRequest): Promise<ApiKey | undefined> | undefined => {
    if (!StreamTokens.looksLike(token)) return undefined;
    const grant = this.streamTokens.verify(token, this.deps.now());
    return (async () => {
      const key = grant ? await this.deps.keys.get(grant.keyId) : undefined;
      if (!grant || !key || key.revokedAt !== null) {
        throw unauthorized('This stream token is invalid or has expired. Get a new one with POST /v1/stream_tokens.');
      }
      this.grants.set(req, grant);
      return key;
    })();
  };

  routes(gw: Gateway) {
    const webhooks = webhookRoutes(gw, { webhooks: this.webhooks, loop: this.loop, streamTokens: this.streamTokens });
    const sse = sseRoutes(gw, { hub: this.hub, heartbeatMs: this.deps.config.sse.heartbeatMs, keyCheckMs: this.deps.config.sse.pollMs, grantOf: (req) => this.grants.get(req) });
    return async (app: FastifyInstance): Promise<void> => {
      await app.register(webhooks);
      await app.register(sse);
    };
  }

  start(log: FastifyBaseLogger): void {
    this.log = log;
    if (this.deps.config.webhooks.enabled) this.loop.start();
  }

  /** Stop: attempts in flight get `graceMs` to finish (live streams are ended by the server's close). */
  async close(graceMs?: number): Promise<void> {
    this.hub.close();
    await this.loop.stop(graceMs);
  }

  private logger(): FastifyBaseLogger {
    if (!this.log) throw new Error('events not started');
    return this.log;
  }
}
