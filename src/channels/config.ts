import { z } from 'zod';

/**
 * Gateway-wide settings for upstream channels (config key `upstream`; environment variables in
 * config.ts). Times are milliseconds unless the name says otherwise.
 */
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);

export const upstreamConfigSchema = z
  .object({
    /**
     * Which tasks the built-in sandbox serves (test keys always use it):
     * `auto` — every model while no channel is configured at all, none once there is one;
     * `always` — models no channel serves; `never` — none (an unserved model is an error).
     */
    sandboxFallback: z.enum(['auto', 'always', 'never']).default('auto'),
    /** A task not finished this long after creation fails (and its hold is released). Channels may override. */
    deadlineMinutes: int(1, 7 * 24 * 60).default(60),
    poll: z
      .object({
        minMs: int(10).default(1_000),
        maxMs: int(100).default(30_000),
        firstMs: int(10).default(5_000),
      })
      .default({ minMs: 1_000, maxMs: 30_000, firstMs: 5_000 }),
    /**
     * Checks of a job whose provider was given a callback URL (VIDGATE_PUBLIC_URL set, protocol
     * with callbacks) come this far apart: the callback says when to look; this only bounds the
     * delay a lost callback causes.
     */
    callbackPollMs: int(1_000).default(300_000),
    /** Consecutive 404s on a job's status before it counts as lost. */
    notFoundLimit: int(1, 100).default(3),
    connectTimeoutMs: int(100).default(10_000),
    /** Status and probe requests. */
    requestTimeoutMs: int(100).default(30_000),
    /** Submit requests (uploads included). */
    submitTimeoutMs: int(100).default(120_000),
    /** Largest result video accepted. */
    maxResultBytes: int(1024).default(1024 * 1024 * 1024),
    /** Result downloads at once (per process). */
    downloadConcurrency: int(1, 1000).default(8),
    /** A download fails when no byte arrives for this long… */
    downloadIdleTimeoutMs: int(100).default(30_000),
    /** …or when it is slower, overall, than this (plus a minute). */
    minDownloadBytesPerSecond: int(1).default(256 * 1024),
    /** Download attempts (fresh or resumed) before a task fails with result_download_failed. */
    downloadAttempts: int(1, 50).default(6),
    breaker: z
      .object({
        /** Consecutive failed submits that take a channel out of rotation. */
        failures: int(1, 1000).default(5),
        /** First cool-down before a probe; doubles on each failed probe up to maxCooldownMs. */
        cooldownMs: int(100).default(30_000),
        maxCooldownMs: int(100).default(600_000),
      })
      .default({ failures: 5, cooldownMs: 30_000, maxCooldownMs: 600_000 }),
  })
  .default({
    sandboxFallback: 'auto',
    deadlineMinutes: 60,
    poll: { minMs: 1_000, maxMs: 30_000, firstMs: 5_000 },
    callbackPollMs: 300_000,
    notFoundLimit: 3,
    connectTimeoutMs: 10_000,
    requestTimeoutMs: 30_000,
    submitTimeoutMs: 120_000,
    maxResultBytes: 1024 * 1024 * 1024,
    downloadConcurrency: 8,
    downloadIdleTimeoutMs: 30_000,
    minDownloadBytesPerSecond: 256 * 1024,
    downloadAttempts: 6,
    breaker: { failures: 5, cooldownMs: 30_000, maxCooldownMs: 600_000 },
  });

export type UpstreamConfig = z.infer<typeof upstreamConfigSchema>;

/** Environment variable → config path, merged into config.ts's map. */
export const UPSTREAM_ENV: Record<string, string> = {
  VIDGATE_SANDBOX_FALLBACK: 'upstream.sandboxFallback',
  VIDGATE_UPSTREAM_DEADLINE_MINUTES: 'upstream.deadlineMinutes',
  VIDGATE_POLL_MIN_MS: 'upstream.poll.minMs',
  VIDGATE_POLL_MAX_MS: 'upstream.poll.maxMs',
  VIDGATE_POLL_FIRST_MS: 'upstream.poll.firstMs',
  VIDGATE_CALLBACK_POLL_MS: 'upstream.callbackPollMs',
  VIDGATE_UPSTREAM_NOT_FOUND_LIMIT: 'upstream.notFoundLimit',
  VIDGATE_UPSTREAM_TIMEOUT_MS: 'upstream.requestTimeoutMs',
  VIDGATE_UPSTREAM_SUBMIT_TIMEOUT_MS: 'upstream.submitTimeoutMs',
  VIDGATE_MAX_RESULT_BYTES: 'upstream.maxResultBytes',
  VIDGATE_DOWNLOAD_CONCURRENCY: 'upstream.downloadConcurrency',
  VIDGATE_BREAKER_FAILURES: 'upstream.breaker.failures',
  VIDGATE_BREAKER_COOLDOWN_MS: 'upstream.breaker.cooldownMs',
};
