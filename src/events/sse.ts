import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, invalid } from '../core/errors.js';
import type { Gateway } from '../core/gateway.js';
import type { Origin, TaskStatus } from '../core/task.js';
import { TERMINAL } from '../core/task.js';
import { z } from 'zod';
import { pathId, route } from '../http/route.js';
import { visibleTask } from '../http/tasks.js';
import type { EventRow } from '../store/tasks.js';
import type { EventHub } from './hub.js';
import { publicTaskId } from './payload.js';
import type { StreamGrant } from './stream-tokens.js';

/** Reconnect delay suggested to EventSource clients. */
const RETRY_MS = 2000;
/** Reconnect delay suggested when this node shuts down (a load balancer sends the client to another). */
const SHUTDOWN_RETRY_MS = 500;
/** A client that stops reading gets disconnected (it resumes with Last-Event-ID) instead of growing our buffers. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
const PAGE = 500;
const TERMINAL_TYPES = new Set(['video.completed', 'video.failed', 'video.cancelled']);

export interface SseOptions {
  hub: EventHub;
  heartbeatMs: number;
  /** How often open streams check that their key is still valid (revoked or deleted keys end their streams). */
  keyCheckMs: number;
  /** The stream-token grant a request was authenticated with, if any. */
  grantOf(req: FastifyRequest): StreamGrant | undefined;
}

/** The status as GET /v1/videos/{id} shows it (OpenAI has no cancelled; apigo style says pending). */
function statusFor(status: TaskStatus, style: 'openai' | 'apigo'): string {
  if (status === 'queued') return style === 'apigo' ? 'pending' : 'queued';
  return status === 'cancelled' ? 'failed' : status;
}

/** Last-Event-ID (header, or ?last_event_id= for clients that cannot set headers): a task_events seq. */
const sseQuery = z.object({
  last_event_id: z.string().max(20).optional().meta({ description: 'Resume after this event id (for clients that cannot send Last-Event-ID).' }),
  access_token: z.string().max(4096).optional().meta({ description: 'A stream token (POST /v1/stream_tokens), for EventSource.' }),
});

function lastEventId(req: FastifyRequest, query: string | undefined): number | null {
  const header = req.headers['last-event-id'];
  const value = typeof header === 'string' && header !== '' ? header : typeof query === 'string' && query !== '' ? query : undefined;
  if (value === undefined) return null;
  const n = Number(value);
  if (!/^\d{1,15}$/.test(value.trim()) || !Number.isSafeInteger(n)) {
    throw invalid('Last-Event-ID', `Invalid Last-Event-ID '${value}': expected the id of an event from this stream (a non-negative integer).`);
  }
  return n;
}

/**
 * Server-Sent Event streams of task events, read from task_events (the same rows GET answers
 * from), so polling stays as cheap as it was:
 * - GET /v1/videos/{id}/events: that video's events from the start (or after Last-Event-ID),
 *   live until it ends, then the stream closes; reconnecting after the end gets 204 (which tells
 *   EventSource to stop).
 * - GET /v1/events: every event of the key's videos from now (or after Last-Event-ID), forever.
 * Each SSE event: `id: <seq>`, `event: <type>`, `data: {object:"video.event", …}`. Comment lines
 * keep idle streams open through proxies.
 */
export function sseRoutes(gw: Gateway, opts: SseOptions) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const style = gw.config.statusStyle;
    const store = gw.service.store;
    /** Open streams: the key each was opened with, and how to end it with a last word. */
    const open = new Map<ServerResponse, { keyId: string; end(last: string): void }>();

    // Revocation reaches open streams: while any is open, the keys they were opened with are
    // looked up every keyCheckMs (one query, whichever process revoked or deleted the key), and
    // the streams of a key that is no longer valid end. EventSource reconnects and gets a 401.
    let keyCheck: NodeJS.Timeout | null = null;
    const checkKeys = async () => {
      if (open.size === 0) return;
      const asked = new Set([...open.values()].map((s) => s.keyId));
      let active: Set<string>;
      try {
        active = await gw.keys.activeAmong(asked);
      } catch {
        return; // the database is closing or busy: the next check catches up
      }
      // Streams opened while the query ran, with keys it did not ask about, wait for the next check.
      for (const stream of [...open.values()]) {
        if (asked.has(stream.keyId) && !active.has(stream.keyId)) stream.end(': this API key was revoked; the stream is closed\n\n');
      }
    };
    const track = (res: ServerResponse, stream: { keyId: string; end(last: string): void }) => {
      open.set(res, stream);
      if (!keyCheck) {
        keyCheck = setInterval(() => void checkKeys(), opts.keyCheckMs);
        keyCheck.unref();
      }
    };
    const untrack = (res: ServerResponse) => {
      open.delete(res);
      if (open.size === 0 && keyCheck) {
        clearInterval(keyCheck);
        keyCheck = null;
      }
    };

    // Shutting down: tell each client to reconnect soon (it resumes with Last-Event-ID elsewhere).
    app.addHook('preClose', async () => {
      for (const stream of [...open.values()]) stream.end(`retry: ${SHUTDOWN_RETRY_MS}\n: this server is shutting down; reconnect\n\n`);
      open.clear();
      if (keyCheck) clearInterval(keyCheck);
      keyCheck = null;
    });

    const stream = async (
      req: FastifyRequest,
      reply: FastifyReply,
      o: { keyId: string; taskId?: string; origin?: Origin; after: number },
    ): Promise<FastifyReply> => {
      reply.hijack();
      const res = reply.raw;
      const headers: Record<string, string | string[] | number> = {};
      for (const [k, v] of Object.entries(reply.getHeaders())) if (v !== undefined) headers[k] = v;
      res.writeHead(200, {
        ...headers,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        'x-accel-buffering': 'no',
        connection: 'keep-alive',
      });
      res.socket?.setNoDelay(true);
      track(res, { keyId: o.keyId, end: (last) => finish(last) });

      const origins = new Map<string, Origin>();
      if (o.taskId && o.origin) origins.set(o.taskId, o.origin);
      /** The dialect each task was created in (its public id's prefix), read once per task. */
      const learnOrigins = async (rows: EventRow[]) => {
        const unknown = [...new Set(rows.map((r) => r.taskId).filter((id) => !origins.has(id)))];
        if (unknown.length === 0) return;
        if (origins.size > 10_000) origins.clear();
        const found = await gw.db.all<{ id: string; origin: Origin }>(`SELECT id, origin FROM tasks WHERE id IN (${unknown.map(() => '?').join(', ')})`, unknown);
        for (const r of found) origins.set(r.id, r.origin);
      };
      const originOf = (taskId: string): Origin => origins.get(taskId) ?? 'openai';
      // Rows are sent in the order they arrive, each batch once the origins of its tasks are known.
      let sending: Promise<void> = Promise.resolve();
      const sendInOrder = (rows: EventRow[]): Promise<void> => {
        sending = sending
          .then(async () => {
            if (ended) return;
            await learnOrigins(rows);
            send(rows);
          })
          .catch((err: unknown) => {
            req.log.error({ err }, 'event stream failed');
            finish();
          });
        return sending;
      };

      let last = o.after;
      let ended = false;
      let backlogDone = false;
      const buffered: EventRow[] = [];
      let lastWrite = Date.now();
      const write = (text: string) => {
        res.write(text);
        lastWrite = Date.now();
        if (res.writableLength > MAX_BUFFERED_BYTES) finish();
      };
      const send = (rows: EventRow[]) => {
        for (const row of rows) {
          if (ended) return;
          if (row.seq <= last) continue;
          last = row.seq;
          const data = {
            object: 'video.event',
            seq: row.seq,
            type: row.type,
            id: publicTaskId({ id: row.taskId, origin: originOf(row.taskId) }),
            status: statusFor(row.status, style),
            progress: row.progress,
            error: (row.data?.error as { code: string; message: string } | undefined) ?? null,
            created_at: Math.floor(row.createdAt / 1000),
          };
          write(`id: ${row.seq}\nevent: ${row.type}\ndata: ${JSON.stringify(data)}\n\n`);
          if (o.taskId && TERMINAL_TYPES.has(row.type)) finish();
        }
      };
      let unsubscribe = () => {};
      const heartbeat = setInterval(() => {
        if (Date.now() - lastWrite >= opts.heartbeatMs / 2) write(': ping\n\n');
      }, opts.heartbeatMs);
      heartbeat.unref();
      function finish(last?: string): void {
        if (ended) return;
        ended = true;
        clearInterval(heartbeat);
        unsubscribe();
        untrack(res);
        res.end(last);
      }
      res.on('close', () => finish());
      res.on('error', () => finish());

      write(`retry: ${RETRY_MS}\n: connected\n\n`);
      try {
        unsubscribe = await opts.hub.subscribe({
          keyId: o.keyId,
          taskId: o.taskId,
          deliver: (rows) => {
            if (backlogDone) void sendInOrder(rows);
            else buffered.push(...rows);
          },
        });
        if (ended) unsubscribe();
        for (let after = last; !ended; ) {
          const rows = o.taskId ? await store.eventsForTask(o.taskId, after, PAGE) : await store.eventsForKey(o.keyId, after, PAGE);
          await sendInOrder(rows);
          if (rows.length < PAGE) break;
          after = rows[rows.length - 1]!.seq;
        }
        backlogDone = true;
        await sendInOrder(buffered.sort((a, b) => a.seq - b.seq));
        buffered.length = 0;
      } catch (err) {
        req.log.error({ err }, 'event stream failed');
        finish();
      }
      return reply;
    };

    const events = { tag: 'Events', auth: 'key_or_stream_token' as const, query: sseQuery, headers: { 'Last-Event-ID': 'Resume after this event id.' } };
    route(
      app,
      {
        ...events,
        method: 'GET',
        url: '/v1/videos/:id/events',
        summary: "A video's events as Server-Sent Events",
        description: 'From the start (or after Last-Event-ID), live until the video ends, then the stream closes; reconnecting after the end gets 204.',
        params: z.object({ id: pathId('The video id.') }),
        responses: { 200: { description: 'The event stream.', media: ['text/event-stream'] }, 204: { description: 'The video has ended and every event was sent.' } },
      },
      async (req, reply, { params, query }) => {
        const task = await visibleTask(gw, req, params.id);
        const grant = opts.grantOf(req);
        if (grant?.taskId && grant.taskId !== task.id) throw scopeError(grant);
        const after = lastEventId(req, query.last_event_id);
        if (after !== null && TERMINAL.has(task.status) && (await store.eventsForTask(task.id, after, 1)).length === 0) {
          return reply.code(204).send();
        }
        return stream(req, reply, { keyId: req.apiKey.id, taskId: task.id, origin: task.origin, after: after ?? 0 });
      },
    );

    route(
      app,
      {
        ...events,
        method: 'GET',
        url: '/v1/events',
        summary: "Every event of the key's videos as Server-Sent Events",
        description: 'From now (or after Last-Event-ID), forever.',
        responses: { 200: { description: 'The event stream.', media: ['text/event-stream'] } },
      },
      async (req, reply, { query }) => {
        const grant = opts.grantOf(req);
        if (grant?.taskId) throw scopeError(grant);
        const after = lastEventId(req, query.last_event_id) ?? (await opts.hub.latestSeq());
        return stream(req, reply, { keyId: req.apiKey.id, after });
      },
    );
  };
}

function scopeError(grant: StreamGrant): ApiError {
  return new ApiError({
    status: 403,
    type: 'permission_error',
    code: 'stream_token_scope',
    message: `This stream token only opens the event stream of video_${grant.taskId}.`,
  });
}
