import type { ListPrice } from '../billing/prices.js';
import type { ApiKey } from '../store/keys.js';
import type { ModelSpec } from './catalog.js';
import type { Gateway } from './gateway.js';
import type { Task } from './task.js';
import type { VideoRequest } from './video-request.js';

/** Why a quote is zero: a test key, the free sandbox, or a combination without a price. */
export type FreeReason = 'test_key' | 'sandbox' | 'unpriced';

/** What prices a video: the canonical request's price dimensions and its length. */
export type QuoteInput = Pick<VideoRequest, 'resolution' | 'audio' | 'seconds'> & { mode?: string };

export interface Quote {
  /** The provider that would serve the task (a remix goes where its source was made). */
  provider: string;
  /** Micro-USD per second of video. */
  priceMicros: number;
  seconds: number;
  /** What is held at creation: seconds × price. */
  totalMicros: number;
  reason: FreeReason | null;
  /** The dimensions that were priced (mode: the model's default when the request gives none). */
  resolution: VideoRequest['resolution'];
  audio: boolean;
  mode: string | null;
  /** The list price row that matched (absent: free or unpriced). */
  list?: ListPrice;
  /** The channel's own price or markup, when the provider is a channel that sets one. */
  channel?: { usdPerSecond?: number; markup?: number };
}

/**
 * The price of a new task, exactly as creation computes it (core/create.ts calls this), so a
 * price shown before submitting is the price that is held. Priced by the model's dimensions:
 * resolution, audio on or off, and mode.
 */
export async function quoteTask(gw: Gateway, key: ApiKey, model: ModelSpec, req: QuoteInput, remixOf?: Task): Promise<Quote> {
  const provider = await gw.providerFor(model.id, key, remixOf);
  const dims = { resolution: req.resolution, audio: req.audio, mode: req.mode ?? model.defaults.mode };
  // Test keys never touch credit; everything else is quoted once, at creation, and keeps this price.
  const q = key.test ? { micros: 0 } : await gw.prices.quote(model, dims, provider);
  const priceMicros = q.micros;
  let reason: FreeReason | null = null;
  if (key.test) reason = 'test_key';
  else if (priceMicros === 0) reason = provider === 'sandbox' && gw.config.billing.sandboxPricing === 'free' ? 'sandbox' : 'unpriced';
  return {
    provider,
    priceMicros,
    seconds: req.seconds,
    totalMicros: priceMicros * req.seconds,
    reason,
    resolution: dims.resolution,
    audio: dims.audio,
    mode: dims.mode ?? null,
    ...('list' in q && q.list ? { list: q.list } : {}),
    ...('channel' in q && q.channel ? { channel: q.channel } : {}),
  };
}
