import type { Sql } from '../store/sql.js';
import type { ChannelDef, ChannelModel } from './schema.js';

/** A channel row: the definition, its sealed credentials and bookkeeping. */
export interface ChannelRow {
  def: ChannelDef;
  /** Secrets.seal(JSON {apiKey, headers}) or null. Never leaves the process unopened… or opened. */
  sealedCredentials: string | null;
  createdAt: number;
  updatedAt: number;
  /** Removed channels keep their row so that their unfinished tasks can still be followed. */
  deletedAt: number | null;
}

export interface Timing {
  samples: number;
  meanMs: number;
  devMs: number;
}

type Row = {
  id: string;
  name: string;
  type: string;
  base_url: string;
  credentials: string | null;
  models: string;
  options: string;
  priority: number;
  weight: number;
  concurrency: number | null;
  rpm: number | null;
  max_jobs: number | null;
  markup: number | null;
  deadline_minutes: number | null;
  enabled: number;
  source: 'config' | 'api';
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
};

const toRow = (r: Row): ChannelRow => ({
  def: {
    id: r.id,
    name: r.name,
    type: r.type,
    baseUrl: r.base_url,
    models: JSON.parse(r.models) as ChannelModel[],
    priority: r.priority,
    weight: r.weight,
    concurrency: r.concurrency,
    rpm: r.rpm,
    maxJobs: r.max_jobs,
    markup: r.markup,
    deadlineMinutes: r.deadline_minutes,
    enabled: r.enabled === 1,
    options: JSON.parse(r.options) as Record<string, unknown>,
    source: r.source,
  },
  sealedCredentials: r.credentials,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  deletedAt: r.deleted_at,
});

const params = (def: ChannelDef) => ({
  id: def.id,
  name: def.name,
  type: def.type,
  base_url: def.baseUrl,
  models: JSON.stringify(def.models),
  options: JSON.stringify(def.options),
  priority: def.priority,
  weight: def.weight,
  concurrency: def.concurrency,
  rpm: def.rpm,
  max_jobs: def.maxJobs,
  markup: def.markup,
  deadline_minutes: def.deadlineMinutes,
  enabled: def.enabled ? 1 : 0,
  source: def.source,
});

/** SQL for channels and their observed job durations. */
const SQL = {
  all: 'SELECT * FROM channels ORDER BY priority DESC, id',
  get: 'SELECT * FROM channels WHERE id = ?',
  upsert: `INSERT INTO channels (id, name, type, base_url, credentials, models, options, priority, weight, concurrency, rpm,
          max_jobs, markup, deadline_minutes, enabled, source, created_at, updated_at, deleted_at)
        VALUES (@id, @name, @type, @base_url, @credentials, @models, @options, @priority, @weight, @concurrency, @rpm,
          @max_jobs, @markup, @deadline_minutes, @enabled, @source, @now, @now, NULL)
        ON CONFLICT (id) DO UPDATE SET name = excluded.name, type = excluded.type, base_url = excluded.base_url,
          credentials = excluded.credentials, models = excluded.models, options = excluded.options, priority = excluded.priority,
          weight = excluded.weight, concurrency = excluded.concurrency, rpm = excluded.rpm, max_jobs = excluded.max_jobs,
          markup = excluded.markup, deadline_minutes = excluded.deadline_minutes, enabled = excluded.enabled,
          source = excluded.source, updated_at = excluded.updated_at, deleted_at = NULL`,
  remove: 'UPDATE channels SET deleted_at = ?, updated_at = ?, enabled = 0 WHERE id = ? AND deleted_at IS NULL',
  version: 'SELECT COUNT(*) AS n, COALESCE(MAX(updated_at), 0) AS t FROM channels',
  waiting: `SELECT COUNT(*) AS n FROM tasks WHERE provider = ? AND stage = 'wait'`,
  unfinished: `SELECT provider, stage, COUNT(*) AS n FROM tasks WHERE stage <> 'done' AND provider IS NOT NULL GROUP BY provider, stage`,
  unresolved: `SELECT provider, COUNT(*) AS n FROM tasks WHERE error_code = 'upstream_submit_unknown' AND provider IS NOT NULL GROUP BY provider`,
  timingsAll: 'SELECT * FROM channel_timings',
  timingPut: `INSERT INTO channel_timings (channel_id, model, seconds, samples, mean_ms, dev_ms, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (channel_id, model, seconds) DO UPDATE SET samples = excluded.samples, mean_ms = excluded.mean_ms,
          dev_ms = excluded.dev_ms, updated_at = excluded.updated_at`,
};

export class ChannelStore {
  constructor(private readonly q: Sql) {}

  async all(): Promise<ChannelRow[]> {
    return ((await this.q.all(SQL.all)) as Row[]).map(toRow);
  }

  async get(id: string): Promise<ChannelRow | undefined> {
    const r = (await this.q.get(SQL.get, [id])) as Row | undefined;
    return r && toRow(r);
  }

  /** Insert or replace a channel (a removed one comes back). */
  async put(def: ChannelDef, sealedCredentials: string | null, now: number): Promise<void> {
    (await this.q.run(SQL.upsert, { ...params(def), credentials: sealedCredentials, now }));
  }

  async remove(id: string, now: number): Promise<boolean> {
    return (await this.q.run(SQL.remove, [now, now, id])) === 1;
  }

  /** Changes whenever a channel is added, changed or removed (by any process). */
  async version(): Promise<string> {
    const v = (await this.q.get(SQL.version)) as { n: number; t: number };
    return `${v.n}:${v.t}`;
  }

  /** Upstream jobs of a channel that are being followed (submitted, not yet finished). */
  async waitingJobs(id: string): Promise<number> {
    return ((await this.q.get(SQL.waiting, [id])) as { n: number }).n;
  }

  /** Unfinished tasks by provider and stage. */
  async unfinished(): Promise<Array<{ provider: string; stage: string; n: number }>> {
    return (await this.q.all(SQL.unfinished)) as Array<{ provider: string; stage: string; n: number }>;
  }

  /** Per channel: tasks that failed with upstream_submit_unknown (a job may exist upstream, unfollowed). */
  async unresolvedSubmits(): Promise<Map<string, number>> {
    return new Map(((await this.q.all(SQL.unresolved)) as Array<{ provider: string; n: number }>).map((r) => [r.provider, r.n]));
  }

  async timings(): Promise<Array<{ channelId: string; model: string; seconds: number } & Timing>> {
    return ((await this.q.all(SQL.timingsAll)) as Array<{ channel_id: string; model: string; seconds: number; samples: number; mean_ms: number; dev_ms: number }>).map(
      (r) => ({ channelId: r.channel_id, model: r.model, seconds: r.seconds, samples: r.samples, meanMs: r.mean_ms, devMs: r.dev_ms }),
    );
  }

  async putTiming(channelId: string, model: string, seconds: number, t: Timing, now: number): Promise<void> {
    (await this.q.run(SQL.timingPut, [channelId, model, seconds, t.samples, t.meanMs, t.devMs, now]));
  }
}

export const CHANNELS_MIGRATION = `
  -- Upstream channels. Credentials are sealed with the master key (util/secrets.ts): a copy of
  -- the database alone does not reveal them. Removed channels keep their row (deleted_at) so
  -- their unfinished tasks can still be followed.
  CREATE TABLE channels (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    type             TEXT NOT NULL,
    base_url         TEXT NOT NULL,
    credentials      TEXT,
    models           TEXT NOT NULL,
    options          TEXT NOT NULL DEFAULT '{}',
    priority         INTEGER NOT NULL DEFAULT 0,
    weight           INTEGER NOT NULL DEFAULT 1,
    concurrency      INTEGER,
    rpm              INTEGER,
    max_jobs         INTEGER,
    markup           REAL,
    deadline_minutes INTEGER,
    enabled          INTEGER NOT NULL DEFAULT 1,
    source           TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    deleted_at       INTEGER
  );

  -- Observed job durations (submit to upstream completion) per channel, model and length, as an
  -- exponentially weighted mean and mean deviation: the polling schedule starts from them.
  CREATE TABLE channel_timings (
    channel_id TEXT NOT NULL,
    model      TEXT NOT NULL,
    seconds    INTEGER NOT NULL,
    samples    INTEGER NOT NULL,
    mean_ms    REAL NOT NULL,
    dev_ms     REAL NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (channel_id, model, seconds)
  );

  CREATE INDEX tasks_by_provider ON tasks(provider, stage) WHERE stage <> 'done';
`;

/** The same change for PostgreSQL (store/migrations.ts: BIGINT timestamps, DOUBLE PRECISION for REAL). */
export const CHANNELS_MIGRATION_PG = `
  CREATE TABLE channels (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    type             TEXT NOT NULL,
    base_url         TEXT NOT NULL,
    credentials      TEXT,
    models           TEXT NOT NULL,
    options          TEXT NOT NULL DEFAULT '{}',
    priority         INTEGER NOT NULL DEFAULT 0,
    weight           INTEGER NOT NULL DEFAULT 1,
    concurrency      INTEGER,
    rpm              INTEGER,
    max_jobs         INTEGER,
    markup           DOUBLE PRECISION,
    deadline_minutes INTEGER,
    enabled          INTEGER NOT NULL DEFAULT 1,
    source           TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    deleted_at       BIGINT
  );

  CREATE TABLE channel_timings (
    channel_id TEXT NOT NULL,
    model      TEXT NOT NULL,
    seconds    INTEGER NOT NULL,
    samples    INTEGER NOT NULL,
    mean_ms    DOUBLE PRECISION NOT NULL,
    dev_ms     DOUBLE PRECISION NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, model, seconds)
  );

  CREATE INDEX tasks_by_provider ON tasks(provider, stage) WHERE stage <> 'done';
`;
