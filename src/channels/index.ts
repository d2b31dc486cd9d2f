import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { BlobStore } from '../assets/blobs.js';
import type { PriceBook } from '../billing/prices.js';
import type { Config } from '../config.js';
import type { Catalog } from '../core/catalog.js';
import type { Provider } from '../providers/types.js';
import type { Sql } from '../store/sql.js';
import type { TaskStore } from '../store/tasks.js';
import type { Secrets } from '../util/secrets.js';
import type { Telemetry } from '../ops/telemetry.js';
import type { LimitsBackend } from '../shared/index.js';
import { ChannelProvider } from './provider.js';
import { CallbackLinks, Pokes, callbackRoutes } from './callbacks.js';
import { MediaLinks, referenceRoutes } from './reference.js';
import { Channels } from './registry.js';
import { channelRoutes } from './routes.js';
import { ChannelStore } from './store.js';

export interface Upstreams {
  channels: Channels;
  /** The worker's Provider for every task on a channel. */
  provider: Provider;
  /** Admin routes (/admin/v1/channels…), the signed media route and the upstream callback route. */
  routes(app: FastifyInstance): Promise<void>;
}

/**
 * Everything upstream, wired: channels synced from the config file, their pricing in the price
 * book, the provider the worker drives them with, and their routes.
 */
export async function createUpstreams(deps: {
  config: Config;
  db: Sql;
  store: TaskStore;
  blobs: BlobStore;
  secrets: Secrets;
  catalog: Catalog;
  prices: PriceBook;
  now: () => number;
  log: FastifyBaseLogger;
  telemetry: Telemetry;
  /** Wake the worker: a task became due (an upstream called back). */
  wake: () => void;
  /** Where channel limits and breakers live. */
  limits: LimitsBackend;
}): Promise<Upstreams> {
  const { config, now } = deps;
  const channels = new Channels(new ChannelStore(deps.db), deps.secrets, deps.catalog, config.upstream, config.net, now, deps.log.child({ component: 'channels' }), deps.telemetry, Math.random, deps.limits);
  await channels.init();
  await channels.syncConfig(config.channels);
  deps.prices.setChannelPricing((id, model, q) => channels.pricing(id, model, q));
  const links = new MediaLinks(deps.secrets, config.publicUrl);
  const callbacks = new CallbackLinks(deps.secrets, config.publicUrl);
  const pokes = new Pokes(deps.store, deps.wake, now, deps.log.child({ component: 'upstream' }));
  channels.onPoke((channelId, upstreamId) => pokes.pokeUpstream(channelId, upstreamId));
  const u = config.upstream;
  const provider = new ChannelProvider(
    channels,
    deps.store,
    links,
    callbacks,
    {
      poll: u.poll,
      notFoundLimit: u.notFoundLimit,
      downloadConcurrency: u.downloadConcurrency,
      downloadAttempts: u.downloadAttempts,
      maxResultBytes: u.maxResultBytes,
      downloadIdleTimeoutMs: u.downloadIdleTimeoutMs,
      minDownloadBytesPerSecond: u.minDownloadBytesPerSecond,
      callbackPollMs: u.callbackPollMs,
    },
    deps.log.child({ component: 'upstream' }),
  );
  return {
    channels,
    provider,
    async routes(app) {
      await app.register(channelRoutes(channels, now));
      await app.register(referenceRoutes(links, deps.blobs, now));
      await app.register(callbackRoutes(callbacks, channels, deps.store, pokes, now));
    },
  };
}
