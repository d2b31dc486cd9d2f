import type { ColumnType, Generated } from 'kysely';

/**
 * The database as Kysely sees it: one interface per table the migrations (store/migrations.ts)
 * create, column for column, on SQLite and PostgreSQL alike. Timestamps are Unix milliseconds and
 * money integer micro-dollars (BIGINT on PostgreSQL, read back as numbers); flags are 0/1
 * integers; JSON is kept as TEXT. `Generated` marks identity columns (AUTOINCREMENT on SQLite)
 * and columns with a default. test/store-postgres.test.ts checks TABLE_COLUMNS against both
 * migrated databases; the type check below keeps TABLE_COLUMNS and these interfaces in step.
 */

/** An identity column: generated when omitted, but a copy may insert its own value. */
type Identity = ColumnType<number, number | undefined, number>;

export interface SchemaMigrationsTable {
  id: string;
  applied_at: number;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  secret_hash: string;
  prefix: string;
  test: Generated<number>;
  created_at: number;
  revoked_at: number | null;
  balance_micros: Generated<number>;
  credit_limit_micros: Generated<number>;
  rpm_limit: number | null;
  max_inflight: number | null;
  inflight: Generated<number>;
}

export interface TasksTable {
  id: string;
  key_id: string;
  origin: string;
  kind: string;
  model: string;
  prompt: string;
  seconds: number;
  width: number;
  height: number;
  status: string;
  progress: Generated<number>;
  error_code: string | null;
  error_message: string | null;
  remixed_from: string | null;
  has_reference: Generated<number>;
  params: Generated<string>;
  body_hash: string | null;
  provider: string | null;
  upstream_id: string | null;
  stage: string;
  provider_state: Generated<string>;
  next_run_at: number | null;
  lease_owner: string | null;
  lease_until: number | null;
  attempts: Generated<number>;
  created_at: number;
  started_at: number | null;
  completed_at: number | null;
  expires_at: number | null;
  deleted_at: number | null;
  updated_at: number;
  price_micros: Generated<number>;
  quote_micros: Generated<number>;
  cost_micros: number | null;
  actual_seconds: number | null;
  request: string | null;
  files_removed_at: number | null;
}

export interface TaskAssetsTable {
  task_id: string;
  variant: string;
  path: string;
  bytes: number;
  sha256: string;
  content_type: string;
}

export interface TaskEventsTable {
  seq: Identity;
  task_id: string;
  key_id: string;
  type: string;
  status: string;
  progress: number;
  data: string | null;
  created_at: number;
}

export interface IdempotencyKeysTable {
  key_id: string;
  idem_key: string;
  body_hash: string;
  task_id: string;
  created_at: number;
}

export interface LedgerTable {
  id: Identity;
  key_id: string;
  task_id: string | null;
  kind: string;
  amount_micros: number;
  balance_after: number;
  note: string | null;
  created_at: number;
}

export interface PricesTable {
  model: string;
  resolution: Generated<string>;
  audio: Generated<string>;
  mode: Generated<string>;
  usd_per_second: number;
  updated_at: number;
}

export interface WebhookEndpointsTable {
  id: string;
  key_id: string;
  name: string;
  url: string;
  event_types: string;
  enabled: Generated<number>;
  secret_sealed: string;
  secret_hint: string;
  previous_secret_sealed: string | null;
  previous_expires_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface CallbackSecretsTable {
  key_id: string;
  secret_sealed: string;
  secret_hint: string;
  previous_secret_sealed: string | null;
  previous_expires_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface WebhookDeliveriesTable {
  id: string;
  key_id: string;
  target: string;
  url: string;
  task_id: string;
  event_seq: number;
  event_id: string;
  event_type: string;
  payload: string;
  status: string;
  attempts: Generated<number>;
  next_attempt_at: number | null;
  give_up_at: number;
  lease_owner: string | null;
  lease_until: number | null;
  last_status: number | null;
  last_error: string | null;
  created_at: number;
  delivered_at: number | null;
  updated_at: number;
}

export interface WebhookAttemptsTable {
  id: Identity;
  delivery_id: string;
  attempt: number;
  url: string;
  started_at: number;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  response_body: string | null;
}

export interface ChannelsTable {
  id: string;
  name: string;
  type: string;
  base_url: string;
  credentials: string | null;
  models: string;
  options: Generated<string>;
  priority: Generated<number>;
  weight: Generated<number>;
  concurrency: number | null;
  rpm: number | null;
  max_jobs: number | null;
  markup: number | null;
  deadline_minutes: number | null;
  enabled: Generated<number>;
  source: string;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
}

export interface ChannelTimingsTable {
  channel_id: string;
  model: string;
  seconds: number;
  samples: number;
  mean_ms: number;
  dev_ms: number;
  updated_at: number;
}

/** A key's request bucket shared by every node (src/shared/pg-rate-limit.ts); transient. */
export interface SharedRateBucketsTable {
  key_id: string;
  tokens: number;
  tokens_at: number;
  /** Whether the last take was granted (0/1), for its RETURNING. */
  granted: number;
}

/** A channel's concurrency leases, rpm bucket and pause shared by every node (src/shared/pg-channel-limiter.ts); transient. */
export interface SharedChannelLimitsTable {
  channel_id: string;
  /** JSON {lease id: expiry ms}. */
  leases: Generated<string>;
  /** NULL: a full bucket. */
  tokens: number | null;
  tokens_at: number | null;
  paused_until: Generated<number>;
  updated_at: number;
}

/** A channel's circuit breaker shared by every node (src/shared/pg-breaker.ts); transient. */
export interface SharedBreakersTable {
  channel_id: string;
  /** JSON BreakerData (channels/breaker.ts). */
  state: string;
  expires_at: number;
}

export interface Database {
  schema_migrations: SchemaMigrationsTable;
  api_keys: ApiKeysTable;
  tasks: TasksTable;
  task_assets: TaskAssetsTable;
  task_events: TaskEventsTable;
  idempotency_keys: IdempotencyKeysTable;
  ledger: LedgerTable;
  prices: PricesTable;
  webhook_endpoints: WebhookEndpointsTable;
  callback_secrets: CallbackSecretsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  channels: ChannelsTable;
  channel_timings: ChannelTimingsTable;
  shared_rate_buckets: SharedRateBucketsTable;
  shared_channel_limits: SharedChannelLimitsTable;
  shared_breakers: SharedBreakersTable;
}

export type TableName = keyof Database;

/** Every table with its columns (in no particular order), its primary key and identity column, if any. */
export interface TableInfo<T extends TableName = TableName> {
  columns: readonly (keyof Database[T] & string)[];
  primaryKey: readonly (keyof Database[T] & string)[];
  identity?: keyof Database[T] & string;
}

/**
 * The vidgate tables in foreign-key order (a table comes after every table it references), as
 * `vidgate db copy` writes them. schema_migrations is not among them: each database records its
 * own migrations.
 */
export const TABLES = {
  api_keys: {
    columns: ['id', 'name', 'secret_hash', 'prefix', 'test', 'created_at', 'revoked_at', 'balance_micros', 'credit_limit_micros', 'rpm_limit', 'max_inflight', 'inflight'],
    primaryKey: ['id'],
  },
  tasks: {
    columns: [
      'id', 'key_id', 'origin', 'kind', 'model', 'prompt', 'seconds', 'width', 'height', 'status', 'progress', 'error_code', 'error_message',
      'remixed_from', 'has_reference', 'params', 'body_hash', 'provider', 'upstream_id', 'stage', 'provider_state', 'next_run_at', 'lease_owner',
      'lease_until', 'attempts', 'created_at', 'started_at', 'completed_at', 'expires_at', 'deleted_at', 'updated_at', 'price_micros', 'quote_micros',
      'cost_micros', 'actual_seconds', 'request', 'files_removed_at',
    ],
    primaryKey: ['id'],
  },
  task_assets: { columns: ['task_id', 'variant', 'path', 'bytes', 'sha256', 'content_type'], primaryKey: ['task_id', 'variant'] },
  task_events: { columns: ['seq', 'task_id', 'key_id', 'type', 'status', 'progress', 'data', 'created_at'], primaryKey: ['seq'], identity: 'seq' },
  idempotency_keys: { columns: ['key_id', 'idem_key', 'body_hash', 'task_id', 'created_at'], primaryKey: ['key_id', 'idem_key'] },
  ledger: {
    columns: ['id', 'key_id', 'task_id', 'kind', 'amount_micros', 'balance_after', 'note', 'created_at'],
    primaryKey: ['id'],
    identity: 'id',
  },
  prices: { columns: ['model', 'resolution', 'audio', 'mode', 'usd_per_second', 'updated_at'], primaryKey: ['model', 'resolution', 'audio', 'mode'] },
  webhook_endpoints: {
    columns: [
      'id', 'key_id', 'name', 'url', 'event_types', 'enabled', 'secret_sealed', 'secret_hint', 'previous_secret_sealed', 'previous_expires_at',
      'created_at', 'updated_at',
    ],
    primaryKey: ['id'],
  },
  callback_secrets: {
    columns: ['key_id', 'secret_sealed', 'secret_hint', 'previous_secret_sealed', 'previous_expires_at', 'created_at', 'updated_at'],
    primaryKey: ['key_id'],
  },
  webhook_deliveries: {
    columns: [
      'id', 'key_id', 'target', 'url', 'task_id', 'event_seq', 'event_id', 'event_type', 'payload', 'status', 'attempts', 'next_attempt_at',
      'give_up_at', 'lease_owner', 'lease_until', 'last_status', 'last_error', 'created_at', 'delivered_at', 'updated_at',
    ],
    primaryKey: ['id'],
  },
  webhook_attempts: {
    columns: ['id', 'delivery_id', 'attempt', 'url', 'started_at', 'duration_ms', 'status_code', 'error', 'response_body'],
    primaryKey: ['id'],
    identity: 'id',
  },
  channels: {
    columns: [
      'id', 'name', 'type', 'base_url', 'credentials', 'models', 'options', 'priority', 'weight', 'concurrency', 'rpm', 'max_jobs', 'markup',
      'deadline_minutes', 'enabled', 'source', 'created_at', 'updated_at', 'deleted_at',
    ],
    primaryKey: ['id'],
  },
  channel_timings: {
    columns: ['channel_id', 'model', 'seconds', 'samples', 'mean_ms', 'dev_ms', 'updated_at'],
    primaryKey: ['channel_id', 'model', 'seconds'],
  },
} as const satisfies { [T in Exclude<TableName, 'schema_migrations' | TransientTable>]: TableInfo<T> };

export type DataTable = keyof typeof TABLES;
export const DATA_TABLES = Object.keys(TABLES) as DataTable[];

/**
 * Tables of transient state that gateway nodes share (limits and breakers, src/shared/): not data.
 * `vidgate db copy` leaves them out (a new database starts with full buckets and closed breakers).
 */
export const TRANSIENT_TABLES = {
  shared_rate_buckets: { columns: ['key_id', 'tokens', 'tokens_at', 'granted'], primaryKey: ['key_id'] },
  shared_channel_limits: { columns: ['channel_id', 'leases', 'tokens', 'tokens_at', 'paused_until', 'updated_at'], primaryKey: ['channel_id'] },
  shared_breakers: { columns: ['channel_id', 'state', 'expires_at'], primaryKey: ['channel_id'] },
} as const satisfies { [T in TransientTable]: TableInfo<T> };

export type TransientTable = 'shared_rate_buckets' | 'shared_channel_limits' | 'shared_breakers';
export const TRANSIENT_TABLE_NAMES = Object.keys(TRANSIENT_TABLES) as TransientTable[];

/** Compile-time check: TABLES and TRANSIENT_TABLES list every column of every interface above (else this names what is missing). */
type Unlisted =
  | { [T in DataTable]: Exclude<keyof Database[T], (typeof TABLES)[T]['columns'][number]> }[DataTable]
  | { [T in TransientTable]: Exclude<keyof Database[T], (typeof TRANSIENT_TABLES)[T]['columns'][number]> }[TransientTable];
export const TABLES_COMPLETE: [Unlisted] extends [never] ? true : { missing: Unlisted } = true;
