import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { route } from '../http/route.js';

/** One readiness check: null when fine, else the reason (a short sentence). */
export type Check = () => Promise<string | null> | string | null;

/** A loop that is due to turn at least every second or so; this long without a turn means stuck. */
export const LOOP_STALE_MS = 15_000;

/** How long a blob-storage write probe's result is reused (readiness probes can be frequent). */
const BLOB_PROBE_CACHE_MS = 1000;

/**
 * Whether this node can serve (GET /readyz), as opposed to whether it is alive (GET /healthz):
 * the store answers, blob storage takes writes, the database's migrations are the ones this
 * build expects, the worker loop turns (when it runs here), and the node is not shutting down.
 * Every check runs on each probe; the answer names each check and, when not ready, the reason.
 */
export class Readiness {
  private draining = false;
  private readonly checks = new Map<string, Check>();

  add(name: string, check: Check): this {
    this.checks.set(name, check);
    return this;
  }

  /** Readiness goes 503 from now on (SIGTERM): load balancers stop sending new work here. */
  drain(): void {
    this.draining = true;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  async evaluate(): Promise<{ ready: boolean; reason: string | null; checks: Record<string, string> }> {
    const checks: Record<string, string> = {};
    const reasons: string[] = [];
    if (this.draining) reasons.push('shutting down');
    for (const [name, check] of this.checks) {
      let problem: string | null;
      try {
        problem = await check();
      } catch (err) {
        problem = err instanceof Error ? err.message : String(err);
      }
      checks[name] = problem ?? 'ok';
      if (problem) reasons.push(`${name}: ${problem}`);
    }
    return { ready: reasons.length === 0, reason: reasons.length ? reasons.join('; ') : null, checks };
  }

  routes() {
    return async (app: FastifyInstance): Promise<void> => {
      const checks = z.record(z.string(), z.string()).meta({ description: "Each check: 'ok' or the reason it fails." });
      route(
        app,
        {
          method: 'GET',
          url: '/readyz',
          tag: 'Operations',
          summary: 'Readiness',
          description: 'Whether this node can serve: store, blob storage, migrations, worker loop; 503 with the reason when not (and while draining).',
          auth: 'public',
          responses: {
            200: z.object({ status: z.literal('ready'), checks }),
            503: { description: 'Not ready.', schema: z.object({ status: z.literal('unavailable'), reason: z.string().nullable(), checks }) },
          },
        },
        async (_req, reply) => {
          const r = await this.evaluate();
          reply.header('cache-control', 'no-store');
          if (!r.ready) return reply.code(503).send({ status: 'unavailable', reason: r.reason, checks: r.checks });
          return { status: 'ready', checks: r.checks };
        },
      );
    };
  }
}

/** Blob storage takes writes (BlobStore.checkWritable: a probe file or object); the result is reused for a second. */
export function blobWritable(blobs: { checkWritable(): Promise<void> }): Check {
  // A StorageError's public message is for clients; operators get its cause (ENOTDIR, HTTP 403 …).
  const reason = (err: unknown): string => (err as { detail?: string }).detail?.replace(/^write a probe: /, '') ?? (err as Error).message;
  let last: { at: number; result: Promise<string | null> } | null = null;
  const probe = async (): Promise<string | null> => {
    try {
      await blobs.checkWritable();
      return null;
    } catch (err) {
      return `not writable (${reason(err)})`;
    }
  };
  return () => {
    const now = Date.now();
    if (!last || now - last.at > BLOB_PROBE_CACHE_MS) last = { at: now, result: probe() };
    return last.result;
  };
}
