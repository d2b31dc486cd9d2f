import { CHANNELS_MIGRATION, CHANNELS_MIGRATION_PG } from '../channels/store.js';

/**
 * Schema migrations, applied once each in array order and recorded by id in schema_migrations.
 * Never edit a released migration: append a new one with a new id.
 * Timestamps are Unix milliseconds; money is integer micro-dollars (1 USD = 1,000,000).
 *
 * Each entry carries the same change for both databases: `sql` for SQLite, and `pg` for
 * PostgreSQL where the text differs (BIGINT for timestamps, money, sizes and sequence numbers; DOUBLE PRECISION for REAL; JSON kept
 * as TEXT; identity columns where SQLite has AUTOINCREMENT). test/store-postgres.test.ts migrates
 * both and compares their tables, columns and indexes, and src/store/schema.ts types them.
 */
export interface Migration {
  id: string;
  sql: string;
  /** The PostgreSQL text, when it differs from the SQLite one. */
  pg?: string;
}

export const MIGRATIONS: Migration[] = [
  {
    id: '001_tasks',
    sql: `
  CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    test        INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
  );

  CREATE TABLE tasks (
    id              TEXT PRIMARY KEY,
    key_id          TEXT NOT NULL REFERENCES api_keys(id),
    origin          TEXT NOT NULL,
    kind            TEXT NOT NULL,
    model           TEXT NOT NULL,
    prompt          TEXT NOT NULL,
    seconds         INTEGER NOT NULL,
    width           INTEGER NOT NULL,
    height          INTEGER NOT NULL,
    status          TEXT NOT NULL,
    progress        INTEGER NOT NULL DEFAULT 0,
    error_code      TEXT,
    error_message   TEXT,
    remixed_from    TEXT,
    has_reference   INTEGER NOT NULL DEFAULT 0,
    params          TEXT NOT NULL DEFAULT '{}',
    body_hash       TEXT,
    provider        TEXT,
    upstream_id     TEXT,
    stage           TEXT NOT NULL,
    provider_state  TEXT NOT NULL DEFAULT '{}',
    next_run_at     INTEGER,
    lease_owner     TEXT,
    lease_until     INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    started_at      INTEGER,
    completed_at    INTEGER,
    expires_at      INTEGER,
    deleted_at      INTEGER,
    updated_at      INTEGER NOT NULL
  );
  CREATE INDEX tasks_by_key ON tasks(key_id, id);
  CREATE INDEX tasks_due ON tasks(next_run_at) WHERE stage <> 'done';
  CREATE INDEX tasks_expiring ON tasks(expires_at) WHERE expires_at IS NOT NULL;
  CREATE INDEX tasks_by_body ON tasks(key_id, body_hash, created_at) WHERE body_hash IS NOT NULL;

  CREATE TABLE task_assets (
    task_id      TEXT NOT NULL REFERENCES tasks(id),
    variant      TEXT NOT NULL,
    path         TEXT NOT NULL,
    bytes        INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    content_type TEXT NOT NULL,
    PRIMARY KEY (task_id, variant)
  );

  CREATE TABLE task_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id    TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    type       TEXT NOT NULL,
    status     TEXT NOT NULL,
    progress   INTEGER NOT NULL,
    data       TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX task_events_by_task ON task_events(task_id, seq);
  CREATE INDEX task_events_by_key ON task_events(key_id, seq);

  CREATE TABLE idempotency_keys (
    key_id     TEXT NOT NULL,
    idem_key   TEXT NOT NULL,
    body_hash  TEXT NOT NULL,
    task_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, idem_key)
  );
  `,
    pg: `
  CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    test        INTEGER NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
  );

  CREATE TABLE tasks (
    id              TEXT PRIMARY KEY,
    key_id          TEXT NOT NULL REFERENCES api_keys(id),
    origin          TEXT NOT NULL,
    kind            TEXT NOT NULL,
    model           TEXT NOT NULL,
    prompt          TEXT NOT NULL,
    seconds         INTEGER NOT NULL,
    width           INTEGER NOT NULL,
    height          INTEGER NOT NULL,
    status          TEXT NOT NULL,
    progress        INTEGER NOT NULL DEFAULT 0,
    error_code      TEXT,
    error_message   TEXT,
    remixed_from    TEXT,
    has_reference   INTEGER NOT NULL DEFAULT 0,
    params          TEXT NOT NULL DEFAULT '{}',
    body_hash       TEXT,
    provider        TEXT,
    upstream_id     TEXT,
    stage           TEXT NOT NULL,
    provider_state  TEXT NOT NULL DEFAULT '{}',
    next_run_at     BIGINT,
    lease_owner     TEXT,
    lease_until     BIGINT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    started_at      BIGINT,
    completed_at    BIGINT,
    expires_at      BIGINT,
    deleted_at      BIGINT,
    updated_at      BIGINT NOT NULL
  );
  CREATE INDEX tasks_by_key ON tasks(key_id, id);
  CREATE INDEX tasks_due ON tasks(next_run_at) WHERE stage <> 'done';
  CREATE INDEX tasks_expiring ON tasks(expires_at) WHERE expires_at IS NOT NULL;
  CREATE INDEX tasks_by_body ON tasks(key_id, body_hash, created_at) WHERE body_hash IS NOT NULL;

  CREATE TABLE task_assets (
    task_id      TEXT NOT NULL REFERENCES tasks(id),
    variant      TEXT NOT NULL,
    path         TEXT NOT NULL,
    bytes        BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    content_type TEXT NOT NULL,
    PRIMARY KEY (task_id, variant)
  );

  CREATE TABLE task_events (
    seq        BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    task_id    TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    type       TEXT NOT NULL,
    status     TEXT NOT NULL,
    progress   INTEGER NOT NULL,
    data       TEXT,
    created_at BIGINT NOT NULL
  );
  CREATE INDEX task_events_by_task ON task_events(task_id, seq);
  CREATE INDEX task_events_by_key ON task_events(key_id, seq);

  CREATE TABLE idempotency_keys (
    key_id     TEXT NOT NULL,
    idem_key   TEXT NOT NULL,
    body_hash  TEXT NOT NULL,
    task_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (key_id, idem_key)
  );
  `,
  },
  {
    id: '002_billing',
    sql: `
  ALTER TABLE api_keys ADD COLUMN balance_micros INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE api_keys ADD COLUMN credit_limit_micros INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE api_keys ADD COLUMN rpm_limit INTEGER;
  ALTER TABLE api_keys ADD COLUMN max_inflight INTEGER;
  -- Unfinished tasks of the key, kept by the billing hooks in the same transactions as the tasks.
  ALTER TABLE api_keys ADD COLUMN inflight INTEGER NOT NULL DEFAULT 0;

  ALTER TABLE tasks ADD COLUMN price_micros INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE tasks ADD COLUMN quote_micros INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE tasks ADD COLUMN cost_micros INTEGER;
  ALTER TABLE tasks ADD COLUMN actual_seconds REAL;
  CREATE INDEX tasks_inflight ON tasks(key_id) WHERE stage <> 'done';
  CREATE INDEX tasks_completed ON tasks(completed_at) WHERE completed_at IS NOT NULL;

  -- Append-only. A key's balance is the sum of its entries (api_keys.balance_micros caches it).
  CREATE TABLE ledger (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id        TEXT NOT NULL REFERENCES api_keys(id),
    task_id       TEXT,
    kind          TEXT NOT NULL,
    amount_micros INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    note          TEXT,
    created_at    INTEGER NOT NULL
  );
  CREATE INDEX ledger_by_key ON ledger(key_id, id);
  -- Each task is held, settled and released at most once.
  CREATE UNIQUE INDEX ledger_task_effect ON ledger(task_id, kind) WHERE task_id IS NOT NULL;

  -- Operator price overrides (USD per second), by model and resolution tier.
  CREATE TABLE prices (
    model          TEXT NOT NULL,
    tier           TEXT NOT NULL,
    usd_per_second REAL NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (model, tier)
  );
  `,
    pg: `
  ALTER TABLE api_keys ADD COLUMN balance_micros BIGINT NOT NULL DEFAULT 0;
  ALTER TABLE api_keys ADD COLUMN credit_limit_micros BIGINT NOT NULL DEFAULT 0;
  ALTER TABLE api_keys ADD COLUMN rpm_limit INTEGER;
  ALTER TABLE api_keys ADD COLUMN max_inflight INTEGER;
  ALTER TABLE api_keys ADD COLUMN inflight INTEGER NOT NULL DEFAULT 0;

  ALTER TABLE tasks ADD COLUMN price_micros BIGINT NOT NULL DEFAULT 0;
  ALTER TABLE tasks ADD COLUMN quote_micros BIGINT NOT NULL DEFAULT 0;
  ALTER TABLE tasks ADD COLUMN cost_micros BIGINT;
  ALTER TABLE tasks ADD COLUMN actual_seconds DOUBLE PRECISION;
  CREATE INDEX tasks_inflight ON tasks(key_id) WHERE stage <> 'done';
  CREATE INDEX tasks_completed ON tasks(completed_at) WHERE completed_at IS NOT NULL;

  CREATE TABLE ledger (
    id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    key_id        TEXT NOT NULL REFERENCES api_keys(id),
    task_id       TEXT,
    kind          TEXT NOT NULL,
    amount_micros BIGINT NOT NULL,
    balance_after BIGINT NOT NULL,
    note          TEXT,
    created_at    BIGINT NOT NULL
  );
  CREATE INDEX ledger_by_key ON ledger(key_id, id);
  CREATE UNIQUE INDEX ledger_task_effect ON ledger(task_id, kind) WHERE task_id IS NOT NULL;

  CREATE TABLE prices (
    model          TEXT NOT NULL,
    tier           TEXT NOT NULL,
    usd_per_second DOUBLE PRECISION NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (model, tier)
  );
  `,
  },
  {
    id: '003_webhooks',
    sql: `
  -- Webhook endpoints of an API key. Secrets are sealed with the master key (util/secrets.ts).
  CREATE TABLE webhook_endpoints (
    id                    TEXT PRIMARY KEY,
    key_id                TEXT NOT NULL REFERENCES api_keys(id),
    name                  TEXT NOT NULL,
    url                   TEXT NOT NULL,
    event_types           TEXT NOT NULL,
    enabled               INTEGER NOT NULL DEFAULT 1,
    secret_sealed         TEXT NOT NULL,
    secret_hint           TEXT NOT NULL,
    previous_secret_sealed TEXT,
    previous_expires_at   INTEGER,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
  );
  CREATE INDEX webhook_endpoints_by_key ON webhook_endpoints(key_id, id);

  -- The signing secret of a key's one-off callback_url deliveries.
  CREATE TABLE callback_secrets (
    key_id                 TEXT PRIMARY KEY REFERENCES api_keys(id),
    secret_sealed          TEXT NOT NULL,
    secret_hint            TEXT NOT NULL,
    previous_secret_sealed TEXT,
    previous_expires_at    INTEGER,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
  );

  -- The outbox: one row per (task event, target), inserted in the transaction of the event.
  -- target is an endpoint id or 'callback'; id is the webhook-id, stable across attempts.
  CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    key_id          TEXT NOT NULL,
    target          TEXT NOT NULL,
    url             TEXT NOT NULL,
    task_id         TEXT NOT NULL,
    event_seq       INTEGER NOT NULL,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    give_up_at      INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    updated_at      INTEGER NOT NULL,
    UNIQUE (event_seq, target)
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
  CREATE INDEX webhook_deliveries_by_key ON webhook_deliveries(key_id, id);
  CREATE INDEX webhook_deliveries_order ON webhook_deliveries(task_id, target, event_seq) WHERE status = 'pending';
  CREATE INDEX webhook_deliveries_finished ON webhook_deliveries(updated_at) WHERE status <> 'pending';

  CREATE TABLE webhook_attempts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id   TEXT NOT NULL,
    attempt       INTEGER NOT NULL,
    url           TEXT NOT NULL,
    started_at    INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    status_code   INTEGER,
    error         TEXT,
    response_body TEXT
  );
  CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts(delivery_id, id);
  `,
    pg: `
  CREATE TABLE webhook_endpoints (
    id                    TEXT PRIMARY KEY,
    key_id                TEXT NOT NULL REFERENCES api_keys(id),
    name                  TEXT NOT NULL,
    url                   TEXT NOT NULL,
    event_types           TEXT NOT NULL,
    enabled               INTEGER NOT NULL DEFAULT 1,
    secret_sealed         TEXT NOT NULL,
    secret_hint           TEXT NOT NULL,
    previous_secret_sealed TEXT,
    previous_expires_at   BIGINT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
  );
  CREATE INDEX webhook_endpoints_by_key ON webhook_endpoints(key_id, id);

  CREATE TABLE callback_secrets (
    key_id                 TEXT PRIMARY KEY REFERENCES api_keys(id),
    secret_sealed          TEXT NOT NULL,
    secret_hint            TEXT NOT NULL,
    previous_secret_sealed TEXT,
    previous_expires_at    BIGINT,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
  );

  CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    key_id          TEXT NOT NULL,
    target          TEXT NOT NULL,
    url             TEXT NOT NULL,
    task_id         TEXT NOT NULL,
    event_seq       BIGINT NOT NULL,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    give_up_at      BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT,
    updated_at      BIGINT NOT NULL,
    UNIQUE (event_seq, target)
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
  CREATE INDEX webhook_deliveries_by_key ON webhook_deliveries(key_id, id);
  CREATE INDEX webhook_deliveries_order ON webhook_deliveries(task_id, target, event_seq) WHERE status = 'pending';
  CREATE INDEX webhook_deliveries_finished ON webhook_deliveries(updated_at) WHERE status <> 'pending';

  CREATE TABLE webhook_attempts (
    id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    delivery_id   TEXT NOT NULL,
    attempt       INTEGER NOT NULL,
    url           TEXT NOT NULL,
    started_at    BIGINT NOT NULL,
    duration_ms   BIGINT NOT NULL,
    status_code   INTEGER,
    error         TEXT,
    response_body TEXT
  );
  CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts(delivery_id, id);
  `,
  },
  { id: '004_channels', sql: CHANNELS_MIGRATION, pg: CHANNELS_MIGRATION_PG },
  {
    // Price overrides key on the catalogue's price dimensions: resolution, audio and mode
    // ('' = any). The old tiers map onto resolutions (1024p is Sora's 'high').
    id: '005_prices_by_dimension',
    sql: `
  CREATE TABLE prices_new (
    model          TEXT NOT NULL,
    resolution     TEXT NOT NULL DEFAULT '',
    audio          TEXT NOT NULL DEFAULT '',
    mode           TEXT NOT NULL DEFAULT '',
    usd_per_second REAL NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (model, resolution, audio, mode)
  );
  INSERT INTO prices_new (model, resolution, usd_per_second, updated_at)
    SELECT model, CASE tier WHEN '1024p' THEN 'high' ELSE tier END, usd_per_second, updated_at FROM prices;
  DROP TABLE prices;
  ALTER TABLE prices_new RENAME TO prices;
  `,
    pg: `
  CREATE TABLE prices_new (
    model          TEXT NOT NULL,
    resolution     TEXT NOT NULL DEFAULT '',
    audio          TEXT NOT NULL DEFAULT '',
    mode           TEXT NOT NULL DEFAULT '',
    usd_per_second DOUBLE PRECISION NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (model, resolution, audio, mode)
  );
  INSERT INTO prices_new (model, resolution, usd_per_second, updated_at)
    SELECT model, CASE tier WHEN '1024p' THEN 'high' ELSE tier END, usd_per_second, updated_at FROM prices;
  DROP TABLE prices;
  ALTER TABLE prices_new RENAME TO prices;
  ALTER TABLE prices RENAME CONSTRAINT prices_new_pkey TO prices_pkey;
  `,
  },
  {
    // The canonical request (core/video-request.ts) of each new task, as JSON without the prompt
    // and model (their own columns). NULL for tasks created before: requestOf() describes those
    // from their Sora-era columns.
    id: '006_task_request',
    sql: `ALTER TABLE tasks ADD COLUMN request TEXT;`,
  },
  {
    // Finding a task by its upstream job (callbacks, lost-submit lookups) and counting lost submits.
    id: '007_upstream_lookups',
    sql: `
  CREATE INDEX tasks_by_upstream ON tasks(provider, upstream_id) WHERE upstream_id IS NOT NULL;
  CREATE INDEX tasks_submit_unknown ON tasks(provider) WHERE error_code = 'upstream_submit_unknown';
  `,
  },
  {
    // Tasks held under a lease (steps running now: a handful however many tasks wait). The
    // worker's next-due time, the start-up lease reclaim and the dead-owner sweep read these rows
    // alone instead of walking every unfinished task (bench/scale.ts: 114 ms per worker turn with
    // 100,000 unfinished tasks before). The unfinished-task metrics read a covering index instead
    // of every unfinished row (183 → 23 ms per scrape with 100,000).
    id: '008_unfinished_tasks',
    sql: `
  CREATE INDEX tasks_leased ON tasks(lease_owner, lease_until) WHERE lease_owner IS NOT NULL AND stage <> 'done';
  CREATE INDEX tasks_unfinished ON tasks(stage, key_id, created_at, quote_micros) WHERE stage <> 'done';
  `,
  },
  {
    // When retention (or a DELETE) removed a task's files; NULL while it may still have some. The
    // expiry sweep reads only tasks past their expiry that still have files: before, it read the
    // first 100 tasks past expiry, which after the first 100 expirations were always the same
    // ones, already without files, so no later video's files were ever removed.
    id: '009_files_removed',
    sql: `
  ALTER TABLE tasks ADD COLUMN files_removed_at INTEGER;
  UPDATE tasks SET files_removed_at = COALESCE(deleted_at, expires_at, updated_at)
    WHERE (expires_at IS NOT NULL OR deleted_at IS NOT NULL) AND NOT EXISTS (SELECT 1 FROM task_assets a WHERE a.task_id = tasks.id);
  DROP INDEX tasks_expiring;
  CREATE INDEX tasks_files_expiring ON tasks(expires_at) WHERE expires_at IS NOT NULL AND files_removed_at IS NULL;
  `,
    pg: `
  ALTER TABLE tasks ADD COLUMN files_removed_at BIGINT;
  UPDATE tasks SET files_removed_at = COALESCE(deleted_at, expires_at, updated_at)
    WHERE (expires_at IS NOT NULL OR deleted_at IS NOT NULL) AND NOT EXISTS (SELECT 1 FROM task_assets a WHERE a.task_id = tasks.id);
  DROP INDEX tasks_expiring;
  CREATE INDEX tasks_files_expiring ON tasks(expires_at) WHERE expires_at IS NOT NULL AND files_removed_at IS NULL;
  `,
  },
  {
    // Limits and circuit breakers shared by every gateway node through PostgreSQL when no Redis is
    // configured (src/shared/pg-*.ts; docs/operations.md#several-nodes): the per-key token bucket,
    // each channel's concurrency leases (JSON {lease id: expiry ms}), rpm bucket (NULL tokens: full)
    // and Retry-After pause, and each channel's breaker state (JSON, channels/breaker.ts's
    // BreakerData). One row per key or channel, overwritten in place; each gateway node deletes
    // rows nobody touched for long (a full bucket, an old breaker), so they do not pile up.
    // On PostgreSQL the tables are UNLOGGED: the state is transient (a bucket refills within a
    // minute, a lease expires within VIDGATE_REDIS_LEASE_MS, a breaker re-learns from the next
    // failures), so it is not worth a WAL record on every request; after a server crash they come
    // back empty (full buckets, no leases, closed breakers), as a Redis without persistence would.
    // A lower fillfactor leaves room on each page for the next version of these hot rows (HOT
    // updates: no index change, less bloat). SQLite creates the same tables (the schema is the same
    // on both), which a gateway on SQLite never writes.
    id: '010_shared_limits',
    sql: `
  CREATE TABLE shared_rate_buckets (
    key_id    TEXT PRIMARY KEY,
    tokens    REAL NOT NULL,
    tokens_at INTEGER NOT NULL,
    granted   INTEGER NOT NULL
  );
  CREATE TABLE shared_channel_limits (
    channel_id   TEXT PRIMARY KEY,
    leases       TEXT NOT NULL DEFAULT '{}',
    tokens       REAL,
    tokens_at    INTEGER,
    paused_until INTEGER NOT NULL DEFAULT 0,
    updated_at   INTEGER NOT NULL
  );
  CREATE TABLE shared_breakers (
    channel_id TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  );
  `,
    pg: `
  CREATE UNLOGGED TABLE shared_rate_buckets (
    key_id    TEXT PRIMARY KEY,
    tokens    DOUBLE PRECISION NOT NULL,
    tokens_at BIGINT NOT NULL,
    granted   INTEGER NOT NULL
  ) WITH (fillfactor = 70);
  CREATE UNLOGGED TABLE shared_channel_limits (
    channel_id   TEXT PRIMARY KEY,
    leases       TEXT NOT NULL DEFAULT '{}',
    tokens       DOUBLE PRECISION,
    tokens_at    BIGINT,
    paused_until BIGINT NOT NULL DEFAULT 0,
    updated_at   BIGINT NOT NULL
  ) WITH (fillfactor = 50);
  CREATE UNLOGGED TABLE shared_breakers (
    channel_id TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    expires_at BIGINT NOT NULL
  ) WITH (fillfactor = 70);
  `,
  },
];
