import { randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulid';

/** Cryptographic randomness drawn from a pooled buffer (one syscall per 4 KiB, not per character). */
const pool = Buffer.alloc(4096);
let poolAt = pool.length;
function random(): number {
  if (poolAt >= pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  return pool[poolAt++]! / 256;
}

/**
 * A task has one internal id, a ULID (time-ordered, 26 characters of Crockford base32).
 * The OpenAI dialect shows it as `video_<ULID>`, the apimart dialect as `task_<ULID>`;
 * both dialects accept either spelling.
 */
const nextUlid = monotonicFactory(random);

export const newTaskId = (now: number): string => nextUlid(now);

const ULID_RE = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const PREFIXES = ['video_', 'task_'] as const;

/** Internal id from a public id, or null when it is not one of ours. */
export function parseTaskId(publicId: string): string | null {
  for (const p of PREFIXES) {
    if (publicId.startsWith(p)) {
      const raw = publicId.slice(p.length).toUpperCase();
      return ULID_RE.test(raw) ? raw : null;
    }
  }
  return null;
}

export const videoId = (id: string): string => `video_${id}`;
export const taskPublicId = (id: string): string => `task_${id}`;
