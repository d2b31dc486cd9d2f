import { StorageError } from '../assets/blobs.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { microsToUsd } from '../billing/money.js';
import { formatSize, parseSize } from '../core/catalog.js';
import { ApiError, conflict, invalid } from '../core/errors.js';
import type { Gateway } from '../core/gateway.js';
import { parseTaskId, videoId } from '../core/ids.js';
import { quoteTask } from '../core/quote.js';
import { requestOf } from '../core/video-request.js';
import type { Quote } from '../core/quote.js';
import type { Task, TaskStatus, Variant } from '../core/task.js';
import { costUsd } from '../dialects/apimart/task.js';
import { parseModel } from '../dialects/openai/validate.js';
import { parseQuoteParams } from './quote-params.js';
import { UrlSigner, publicBase } from '../http/signed-urls.js';
import { visibleTask } from '../http/tasks.js';
import type { ApiKey } from '../store/keys.js';
import { TaskSearch } from '../store/task-search.js';
import { SpriteLayouts } from './sprite.js';

const DEFAULT_MODEL = 'sora-2';
export const STATUSES: TaskStatus[] = ['queued', 'in_progress', 'completed', 'failed', 'cancelled'];
const sec = (ms: number | null): number | null => (ms === null ? null : Math.floor(ms / 1000));

/** ?limit= within 1..max (default `fallback`), or a 400 naming it. */
export function parsePageLimit(value: string | undefined, fallback: number, max = 100): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw invalid('limit', `Invalid value for 'limit': '${value}'. Expected an integer between 1 and ${max}.`);
  return n;
}

/** ?status= one of the task statuses, or a 400. */
export function parseStatus(value: string | undefined): TaskStatus | undefined {
  if (value === undefined || value === '') return undefined;
  if (!STATUSES.includes(value as TaskStatus)) {
    throw invalid('status', `Invalid value for 'status': '${value}'. Supported values are ${STATUSES.map((s) => `'${s}'`).join(', ')}.`);
  }
  return value as TaskStatus;
}

/** A page cursor (?after=) naming a task, or a 400. */
export function parseCursor(value: string | undefined, param = 'after'): string | undefined {
  if (value === undefined || value === '') return undefined;
  const id = parseTaskId(value);
  if (!id) throw invalid(param, `Invalid value for '${param}': '${value}' is not a video id.`);
  return id;
}

/** The quote as the API shows it, with how the price was reached and what the key can spend. */
export function quoteView(gw: Gateway, key: ApiKey, q: Quote, model: string, size: string | null) {
  const b = gw.ledger.balance(key.id);
  const available = b.balanceMicros + b.creditLimitMicros;
  return {
    object: 'quote',
    model,
    size,
    resolution: q.resolution,
    generate_audio: q.audio,
    mode: q.mode,
    seconds: String(q.seconds),
    price_usd: microsToUsd(q.totalMicros),
    price_per_second_usd: microsToUsd(q.priceMicros),
    currency: 'USD',
    free: q.totalMicros === 0,
    reason: q.reason,
    breakdown: {
      seconds: q.seconds,
      price_per_second_usd: microsToUsd(q.priceMicros),
      /** The list price row that matched: the dimensions it names (null = any) and where it comes from. */
      list_price: q.list
        ? {
            usd_per_second: q.list.usdPerSecond,
            matched: { resolution: q.list.row.resolution ?? null, generate_audio: q.list.row.audio ?? null, mode: q.list.row.mode ?? null },
            source: q.list.source,
          }
        : null,
      channel: q.channel ? { usd_per_second: q.channel.usdPerSecond ?? null, markup: q.channel.markup ?? null } : null,
      total_usd: microsToUsd(q.totalMicros),
    },
    available_usd: key.test ? null : microsToUsd(available),
    affordable: key.test || q.totalMicros === 0 || q.totalMicros <= available,
  };
}

/**
 * What the console needs beyond the two dialects, under the key's own Bearer auth:
 * - GET /v1/quote: the price of a video before it is created (the creation code path's own quote);
 * - GET /v1/videos/{id}/links: signed links (usable by <video> and <img> without headers) to the
 *   three files of a finished video, with the spritesheet's grid;
 * - GET /v1/gallery (and /v1/gallery/{id}): the key's videos with status and model filters, cost
 *   and thumbnail links.
 */
export function consoleApiRoutes(gw: Gateway) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const config = { dialect: 'openai' as const };
    const signer = new UrlSigner(gw.secrets.derive('signed-urls'), gw.config.signedUrls.ttlHours * 3600_000);
    const search = new TaskSearch(gw.db);
    const layouts = new SpriteLayouts();

    app.get('/v1/quote', { config }, async (req) => {
      const q = req.query as Record<string, string | undefined>;
      if (q.remix_of) {
        const source = visibleTask(gw, req, q.remix_of);
        const model = gw.catalog.get(source.model) ?? parseModel(DEFAULT_MODEL, gw.catalog, DEFAULT_MODEL);
        const size = parseSize(`${source.width}x${source.height}`)!;
        const made = requestOf(source);
        const quote = quoteTask(gw, req.apiKey, model, { resolution: made.resolution, audio: made.audio, mode: made.mode, seconds: source.seconds }, source);
        return { ...quoteView(gw, req.apiKey, quote, model.id, `${size.width}x${size.height}`), remix_of: videoId(source.id) };
      }
      const p = parseQuoteParams(q, gw.catalog, DEFAULT_MODEL);
      const quote = quoteTask(gw, req.apiKey, p.model, { resolution: p.resolution, audio: p.audio, mode: p.mode, seconds: p.seconds }, undefined);
      return { ...quoteView(gw, req.apiKey, quote, p.model.id, p.size ? formatSize(p.size) : null), aspect_ratio: p.aspectRatio };
    });

    app.get('/v1/videos/:id/links', { config }, async (req) => {
      const task = visibleTask(gw, req, (req.params as { id: string }).id);
      return linksOf(gw, req, task, signer, layouts);
    });

    const thumbnailUrl = (req: FastifyRequest, t: Task, now: number): string | null => {
      if (t.status !== 'completed' || (t.expiresAt !== null && t.expiresAt <= now) || !gw.service.store.getAsset(t.id, 'thumbnail')) return null;
      return signer.link(publicBase(req, gw.config.publicUrl), t, 'thumbnail', now).url;
    };

    app.get('/v1/gallery/:id', { config }, async (req) => {
      const task = visibleTask(gw, req, (req.params as { id: string }).id);
      return { ...galleryItem(task), thumbnail_url: thumbnailUrl(req, task, gw.service.now()) };
    });

    app.get('/v1/gallery', { config }, async (req) => {
      const q = req.query as Record<string, string | undefined>;
      const limit = parsePageLimit(q.limit, 24);
      const status = parseStatus(q.status);
      let model: string | undefined;
      if (q.model) model = parseModel(q.model, gw.catalog, DEFAULT_MODEL).id;
      const rows = search.find({ keyId: req.apiKey.id, status, model, before: parseCursor(q.after), limit });
      const now = gw.service.now();
      const data = rows.slice(0, limit).map((t) => ({ ...galleryItem(t), thumbnail_url: thumbnailUrl(req, t, now) }));
      return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: rows.length > limit };
    });
  };
}

/** A task in the console's vocabulary (canonical status, cancelled included), with its cost. */
export function galleryItem(t: Task) {
  return {
    id: videoId(t.id),
    object: 'gallery.item',
    status: t.status,
    progress: t.progress,
    model: t.model,
    prompt: t.prompt,
    seconds: String(t.seconds),
    size: `${t.width}x${t.height}`,
    actual_seconds: t.actualSeconds,
    cost_usd: costUsd(t),
    price_per_second_usd: microsToUsd(t.priceMicros),
    error: t.error ? { code: t.error.code, message: t.error.message } : null,
    remixed_from_video_id: t.remixedFrom ? videoId(t.remixedFrom) : null,
    created_at: sec(t.createdAt)!,
    completed_at: sec(t.completedAt),
    expires_at: t.status === 'completed' ? sec(t.expiresAt) : null,
  };
}

/** Signed links to the three files of a finished task plus the spritesheet grid; 409/410 explain when there are none. */
export async function linksOf(gw: Gateway, req: FastifyRequest, task: Task, signer: UrlSigner, layouts: SpriteLayouts) {
  const publicId = videoId(task.id);
  if (task.status === 'queued' || task.status === 'in_progress') {
    throw conflict(`Video ${publicId} is not ready yet: its status is ${task.status} (${task.progress}%). Its files have links once it is completed.`, 'video_not_ready');
  }
  if (task.status !== 'completed') {
    const reason = task.error ? ` (${task.error.code}: ${task.error.message})` : '';
    throw conflict(`Video ${publicId} ${task.status === 'cancelled' ? 'was cancelled' : 'failed'}${reason} and has no files.`, 'video_failed');
  }
  const now = gw.service.now();
  const assets = new Map(gw.service.store.listAssets(task.id).map((a) => [a.variant, a]));
  const video = assets.get('video');
  const thumbnail = assets.get('thumbnail');
  const sheet = assets.get('spritesheet');
  const gone = () =>
    new ApiError({
      status: 410,
      type: 'invalid_request_error',
      code: 'content_expired',
      message: `The content of video ${publicId} has expired and was removed (retention ${gw.config.retentionHours} h).`,
    });
  if (!video || !thumbnail || !sheet || (task.expiresAt !== null && task.expiresAt <= now)) throw gone();
  const base = publicBase(req, gw.config.publicUrl);
  const link = (v: Variant) => signer.link(base, task, v, now);
  const file = (v: Variant, a: { bytes: number; contentType: string }) => ({ url: link(v).url, bytes: a.bytes, content_type: a.contentType });
  let layout;
  try {
    layout = await layouts.layout(sheet.sha256, gw.blobs, { sheet: sheet.path, video: video.path }, task);
  } catch (err) {
    if (err instanceof StorageError) throw err; // storage trouble: a 503, not "expired"
    // The files went away under us (expiry sweep, deletion): the same answer as a download.
    req.log.warn({ err, task: task.id }, 'spritesheet layout unreadable');
    throw gone();
  }
  return {
    object: 'video.links',
    id: publicId,
    expires_at: link('video').expiresAt,
    duration_seconds: task.actualSeconds ?? task.seconds,
    width: task.width,
    height: task.height,
    video: file('video', video),
    thumbnail: file('thumbnail', thumbnail),
    spritesheet: {
      ...file('spritesheet', sheet),
      width: layout.width,
      height: layout.height,
      columns: layout.columns,
      rows: layout.rows,
      frames: layout.frames,
      cell_width: layout.cellWidth,
      cell_height: layout.cellHeight,
    },
  };
}
