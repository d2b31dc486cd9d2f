import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { z } from 'zod';
import { pathId, route } from '../http/route.js';
import { ApiError, conflict, notFound } from '../core/errors.js';
import { parseTaskId } from '../core/ids.js';
import { headerMap } from './http.js';
import { CallbackRejected } from '../providers/types.js';
import type { TaskStore } from '../store/tasks.js';
import type { Secrets } from '../util/secrets.js';
import type { Channels } from './registry.js';

const TOKEN = /^([0-9A-HJKMNP-TV-Z]{26})~([a-z0-9][a-z0-9._-]{0,62})~(\d{1,12})~([A-Za-z0-9_-]{43})$/;

/**
 * Per-task callback URLs on the gateway, for providers that call back when a job changes:
 * `POST {VIDGATE_PUBLIC_URL}/v1/upstream-callbacks/{token}`, the token naming the task and the
 * channel and signed with a key derived from the master key (unguessable, and useless for any
 * other task or channel). Without a public URL there are no callbacks and polling does it all.
 */
export class CallbackLinks {
  private readonly key: Buffer;

  constructor(
    secrets: Secrets,
    private readonly publicUrl: string | undefined,
  ) {
    this.key = secrets.derive('upstream-callbacks');
  }

  get enabled(): boolean {
    return !!this.publicUrl;
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }

  url(taskId: string, channelId: string, expiresAtMs: number): string | undefined {
    if (!this.publicUrl) return undefined;
    const payload = `${taskId}~${channelId}~${Math.ceil(expiresAtMs / 1000)}`;
    return `${this.publicUrl.replace(/\/+$/, '')}/v1/upstream-callbacks/${payload}~${this.sign(payload)}`;
  }

  /** The callback URL of a token, as it was given to the provider (signatures may cover it). */
  urlOf(token: string): string | undefined {
    return this.publicUrl ? `${this.publicUrl.replace(/\/+$/, '')}/v1/upstream-callbacks/${token}` : undefined;
  }

  /** The task and channel a token names, or undefined when it is forged or expired. */
  verify(token: string, nowMs: number): { taskId: string; channelId: string } | undefined {
    const m = TOKEN.exec(token);
    if (!m) return undefined;
    const [, taskId, channelId, exp, sig] = m;
    const expected = Buffer.from(this.sign(`${taskId}~${channelId}~${exp}`));
    const given = Buffer.from(sig!);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    if (Number(exp) * 1000 < nowMs || !parseTaskId(`video_${taskId}`)) return undefined;
    return { taskId: taskId!, channelId: channelId! };
  }
}

/**
 * "Check this job now": a callback or a listener says an upstream job may have changed. The task
 * is made due at once and the worker woken; the check then asks the provider. A task whose step
 * is running (leased) is poked again once the step is over, so a callback that arrives during a
 * check is never lost to that check's reschedule.
 */
export class Pokes {
  constructor(
    private readonly store: TaskStore,
    private readonly wake: () => void,
    private readonly now: () => number,
    private readonly log: FastifyBaseLogger,
  ) {}

  poke(taskId: string, attempt = 0): void {
    this.store.makeDue(taskId, this.now()).then(
      (outcome) => {
        if (outcome === 'due') this.wake();
        else if (outcome === 'leased' && attempt < 40) {
          setTimeout(() => this.poke(taskId, attempt + 1), 250).unref();
        }
      },
      (err: unknown) => this.log.warn({ err, task: taskId }, 'could not make a task due'),
    );
  }

  /** A listener's poke: the job of a channel by its upstream id. */
  pokeUpstream(channelId: string, upstreamId: string): void {
    this.store.waitingByUpstream(channelId, upstreamId).then(
      (taskId) => {
        if (taskId) this.poke(taskId);
        else this.log.debug({ channel: channelId, upstreamId }, 'a listener reported a job no waiting task has');
      },
      (err: unknown) => this.log.warn({ err, channel: channelId }, 'could not look up a reported job'),
    );
  }
}

/** Paths that carry a capability token, as they may be logged. */
export function redactTokenPath(url: string): string {
  return url.replace(/^(\/v1\/upstream-callbacks\/)[^/?#]+/, '$1[token]').replace(/^(\/v1\/references\/)[^/?#]+/, '$1[token]');
}

/**
 * `POST /v1/upstream-callbacks/{token}` (public: the token is the authority). A token that is
 * forged, expired or for a task that is not on that channel is a 404; a body whose signature the
 * adapter refuses a 401; a body about another task's job a 409. None of them changes anything.
 */
export function callbackRoutes(links: CallbackLinks, channels: Channels, store: TaskStore, pokes: Pokes, now: () => number) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    // Signatures are over the exact bytes: take every body raw.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1024 * 1024 }, (_req, body, done) => done(null, body));
    route(
      app,
      {
        method: 'POST',
        url: '/v1/upstream-callbacks/:token',
        tag: 'Upstream plumbing',
        summary: 'A callback from an upstream about a job',
        description: 'The per-task URL given to providers that call back; the token is the credential and the body is checked by the adapter (any media type, taken raw).',
        auth: 'public',
        params: z.object({ token: pathId('The signed callback token.') }),
        responses: { 200: { description: 'Accepted (or the reply the provider expects).', schema: z.object({ ok: z.literal(true) }) } },
      },
      async (req, reply, { params }) => {
        const unknown = () => notFound('No such callback (the link is invalid or has expired).');
        const token = params.token;
        const t = links.verify(token, now());
        if (!t) throw unknown();
        const task = await store.get(t.taskId);
        const r = channels.get(t.channelId);
        if (!task || task.provider !== t.channelId || !r?.adapter.callback) throw unknown();
        let verdict;
        try {
          verdict = await r.adapter.callback(
            { headers: headerMap(req.headers), body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0), url: links.urlOf(token) ?? req.url },
            { credentials: r.credentials, upstreamId: task.upstreamId, nowMs: Date.now(), http: r.http, tokens: r.tokens },
          );
        } catch (err) {
          if (!(err instanceof CallbackRejected)) throw err;
          req.log.warn({ task: task.id, channel: r.def.id, reason: err.message }, 'upstream callback refused');
          throw new ApiError({ status: 401, type: 'authentication_error', code: 'invalid_signature', message: `The callback was refused: ${err.message}` });
        }
        if (verdict.job === 'other') {
          req.log.warn({ task: task.id, channel: r.def.id }, 'upstream callback about another job refused');
          throw conflict('This callback is about another job.', 'callback_job_mismatch');
        }
        const pointless = verdict.state === 'waiting' || verdict.state === 'running';
        if (task.stage === 'wait' && !pointless) pokes.poke(task.id);
        if (verdict.reply) return reply.code(verdict.reply.status).send(verdict.reply.body);
        return { ok: true };
      },
    );
  };
}
