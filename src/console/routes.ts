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
import { z } from 'zod';
import { optEnum, optText, pathId, queryInt, route } from '../http/route.js';
import { pageOf, taskError } from '../http/schemas.js';
import { UrlSigner, publicBase } from '../http/signed-urls.js';
import { visibleTask } from '../http/tasks.js';
import type { ApiKey } from '../store/keys.js';
import { TaskSearch } from '../store/task-search.js';
import { SpriteLayouts } from './sprite.js';

const DEFAULT_MODEL = 'sora-2';
const STATUSES_TUPLE = ['queued', 'in_progress', 'completed', 'failed', 'cancelled'] as const satisfies readonly TaskStatus[];
export const STATUSES: TaskStatus[] = [...STATUSES_TUPLE];
const sec = (ms: number | null): number | null => (ms === null ? null : Math.floor(ms / 1000));

/** A page cursor (?after=) naming a task, or a 400. */
export function parseCursor(value: string | undefined, param = 'after'): string | undefined {
  if (value === undefined || value === '') return undefined;
  const id = parseTaskId(value);
  if (!id) throw invalid(param, `Invalid value for '${param}': '${value}' is not a video id.`);
  return id;
}

export const quoteSchema = z
  .object({
    object: z.literal('quote'),
    model: z.string(),
    size: z.string().nullable().meta({ description: 'null when the first frame decides it (aspect_ratio adaptive).' }),
    resolution: z.string(),
    generate_audio: z.boolean(),
    mode: z.string().nullable(),
    seconds: z.string(),
    price_usd: z.number(),
    price_per_second_usd: z.number(),
    currency: z.literal('USD'),
    free: z.boolean(),
    reason: z.string().nullable(),
    breakdown: z.object({
      seconds: z.number(),
      price_per_second_usd: z.number(),
      list_price: z
        .object({
          usd_per_second: z.number(),
          matched: z.object({ resolution: z.string().nullable(), generate_audio: z.boolean().nullable(), mode: z.string().nullable() }),
          source: z.string(),
        })
        .nullable(),
      channel: z.object({ usd_per_second: z.number().nullable(), markup: z.number().nullable() }).nullable(),
      total_usd: z.number(),
    }),
    available_usd: z.number().nullable().meta({ description: 'What the key can spend (null for test keys).' }),
    affordable: z.boolean(),
    remix_of: z.string().optional(),
    aspect_ratio: z.string().optional(),
  })
  .meta({ id: 'Quote' });

const fileLink = z.object({ url: z.string(), bytes: z.number().int(), content_type: z.string() });

/** linksOf, as Zod. */
export const linksSchema = z
  .object({
    object: z.literal('video.links'),
    id: z.string(),
    expires_at: z.number().int(),
    duration_seconds: z.number(),
    width: z.number().int(),
    height: z.number().int(),
    video: fileLink,
    thumbnail: fileLink,
    spritesheet: fileLink.extend({
      width: z.number().int(),
      height: z.number().int(),
      columns: z.number().int(),
      rows: z.number().int(),
      frames: z.number().int(),
      cell_width: z.number().int(),
      cell_height: z.number().int(),
    }),
  })
  .meta({ id: 'VideoLinks' });

export const galleryItemSchema = z
  .object({
    id: z.string(),
    object: z.literal('gallery.item'),
    status: z.enum(STATUSES_TUPLE),
    progress: z.number().int(),
    model: z.string(),
    prompt: z.string().nullable(),
    seconds: z.string(),
    size: z.string(),
    actual_seconds: z.number().nullable(),
    cost_usd: z.number(),
    price_per_second_usd: z.number(),
    error: taskError.nullable(),
    remixed_from_video_id: z.string().nullable(),
    created_at: z.number().int(),
    completed_at: z.number().int().nullable(),
    expires_at: z.number().int().nullable(),
    thumbnail_url: z.string().nullable(),
  })
  .meta({ id: 'GalleryItem' });

/** The quote as the API shows it, with how the price was reached and what the key can spend. */
export async function quoteView(gw: Gateway, key: ApiKey, q: Quote, model: string, size: string | null) {
  const b = await gw.ledger.balance(key.id);
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
    const signer = new UrlSigner(gw.secrets.derive('signed-urls'), gw.config.signedUrls.ttlHours * 3600_000);
    const search = new TaskSearch(gw.db);
    const layouts = new SpriteLayouts();
    const key = { auth: 'key' as const, tag: 'Console' };
    const idParams = z.object({ id: pathId('The video id.') });

    route(
      app,
      {
        ...key,
        method: 'GET',
        url: '/v1/quote',
        summary: 'The price of a video before it is created',
        description: "The creation path's own quote: the same checks as POST /v1/videos (model; size, or aspect_ratio and resolution; seconds or duration; audio; mode), or a remix of a video.",
        query: z.object({
          model: optText('The model (default sora-2).', 200),
          seconds: optText('Seconds, as for POST /v1/videos.', 10),
          duration: optText('Seconds, as an integer (or seconds).', 10),
          size: optText('"WxH", as for POST /v1/videos.', 20),
          aspect_ratio: optText('With resolution, instead of size.', 20),
          resolution: optText('With aspect_ratio, instead of size.', 20),
          generate_audio: optText("'true' or 'false'.", 5),
          audio: optText('Alias of generate_audio.', 5),
          sound: optText('Alias of generate_audio.', 5),
          mode: optText("The model's mode.", 50),
          remix_of: optText('A video id: quote a remix of it instead.', 200),
        }),
        responses: { 200: quoteSchema },
      },
      async (req, _reply, { query: q }) => {
        if (q.remix_of) {
          const source = await visibleTask(gw, req, q.remix_of);
          const model = gw.catalog.get(source.model) ?? parseModel(DEFAULT_MODEL, gw.catalog, DEFAULT_MODEL);
          const size = parseSize(`${source.width}x${source.height}`)!;
          const made = requestOf(source);
          const quote = await quoteTask(gw, req.apiKey, model, { resolution: made.resolution, audio: made.audio, mode: made.mode, seconds: source.seconds }, source);
          return { ...await quoteView(gw, req.apiKey, quote, model.id, `${size.width}x${size.height}`), remix_of: videoId(source.id) };
        }
        const p = parseQuoteParams(q, gw.catalog, DEFAULT_MODEL);
        const quote = await quoteTask(gw, req.apiKey, p.model, { resolution: p.resolution, audio: p.audio, mode: p.mode, seconds: p.seconds }, undefined);
        return { ...await quoteView(gw, req.apiKey, quote, p.model.id, p.size ? formatSize(p.size) : null), aspect_ratio: p.aspectRatio };
      },
    );

    route(
      app,
      { ...key, method: 'GET', url: '/v1/videos/:id/links', summary: "Signed links to a finished video's files", description: 'Usable by <video> and <img> without headers; with the spritesheet grid.', params: idParams, responses: { 200: linksSchema } },
      async (req, _reply, { params }) => linksOf(gw, req, await visibleTask(gw, req, params.id), signer, layouts),
    );

    const thumbnailUrl = async (req: FastifyRequest, t: Task, now: number): Promise<string | null> => {
      if (t.status !== 'completed' || (t.expiresAt !== null && t.expiresAt <= now) || !(await gw.service.store.getAsset(t.id, 'thumbnail'))) return null;
      return signer.link(publicBase(req, gw.config.publicUrl), t, 'thumbnail', now).url;
    };

    route(app, { ...key, method: 'GET', url: '/v1/gallery/:id', summary: 'One video as the gallery shows it', params: idParams, responses: { 200: galleryItemSchema } }, async (req, _reply, { params }) => {
      const task = await visibleTask(gw, req, params.id);
      return { ...galleryItem(task), thumbnail_url: await thumbnailUrl(req, task, gw.service.now()) };
    });

    route(
      app,
      {
        ...key,
        method: 'GET',
        url: '/v1/gallery',
        summary: "The key's videos with status and model filters, cost and thumbnails",
        query: z.object({
          limit: queryInt('limit', 1, 100, 24),
          status: optEnum(STATUSES_TUPLE, 'Task status'),
          model: optText('Only this model.', 200),
          after: optText('A video id: the page starts after it.', 200),
        }),
        responses: { 200: pageOf(galleryItemSchema) },
      },
      async (req, _reply, { query: q }) => {
        const { limit } = q;
        let model: string | undefined;
        if (q.model) model = parseModel(q.model, gw.catalog, DEFAULT_MODEL).id;
        const rows = await search.find({ keyId: req.apiKey.id, status: q.status, model, before: parseCursor(q.after), limit });
        const now = gw.service.now();
        const data = await Promise.all(rows.slice(0, limit).map(async (t) => ({ ...galleryItem(t), thumbnail_url: await thumbnailUrl(req, t, now) })));
        return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: rows.length > limit };
      },
    );
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
  const assets = new Map((await gw.service.store.listAssets(task.id)).map((a) => [a.variant, a]));
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
