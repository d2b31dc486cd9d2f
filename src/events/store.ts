import type { Sql, Tx } from '../store/sql.js';

/** All SQL about webhook endpoints, callback secrets, deliveries (the outbox) and attempts. */

export interface Endpoint {
  id: string;
  keyId: string;
  name: string;
  url: string;
  eventTypes: string[];
  enabled: boolean;
  secretSealed: string;
  secretHint: string;
  previousSecretSealed: string | null;
  previousExpiresAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface CallbackSecret {
  keyId: string;
  secretSealed: string;
  secretHint: string;
  previousSecretSealed: string | null;
  previousExpiresAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'cancelled';

/** The `target` of a callback_url delivery (endpoint deliveries carry the endpoint id). */
export const CALLBACK_TARGET = 'callback';

export interface Delivery {
  /** The webhook-id header: stable across attempts and re-sends. */
  id: string;
  keyId: string;
  target: string;
  url: string;
  taskId: string;
  eventSeq: number;
  eventId: string;
  eventType: string;
  payload: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number | null;
  giveUpAt: number;
  leaseOwner: string | null;
  leaseUntil: number | null;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: number;
  deliveredAt: number | null;
  updatedAt: number;
}

export interface Attempt {
  deliveryId: string;
  attempt: number;
  url: string;
  startedAt: number;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  responseBody: string | null;
}

export interface DeliveryFilter {
  /** One key's deliveries (the key-facing API always sets it; operators may list across keys). */
  keyId?: string;
  target?: string;
  taskId?: string;
  status?: DeliveryStatus;
  eventType?: string;
  /** Page cursor: deliveries with a smaller id (newest first). */
  before?: string;
  limit: number;
}

type Row = Record<string, string | number | null>;

const toEndpoint = (r: Row): Endpoint => ({
  id: r.id as string,
  keyId: r.key_id as string,
  name: r.name as string,
  url: r.url as string,
  eventTypes: JSON.parse(r.event_types as string) as string[],
  enabled: r.enabled === 1,
  secretSealed: r.secret_sealed as string,
  secretHint: r.secret_hint as string,
  previousSecretSealed: r.previous_secret_sealed as string | null,
  previousExpiresAt: r.previous_expires_at as number | null,
  createdAt: r.created_at as number,
  updatedAt: r.updated_at as number,
});

const toCallbackSecret = (r: Row): CallbackSecret => ({
  keyId: r.key_id as string,
  secretSealed: r.secret_sealed as string,
  secretHint: r.secret_hint as string,
  previousSecretSealed: r.previous_secret_sealed as string | null,
  previousExpiresAt: r.previous_expires_at as number | null,
  createdAt: r.created_at as number,
  updatedAt: r.updated_at as number,
});

const toDelivery = (r: Row): Delivery => ({
  id: r.id as string,
  keyId: r.key_id as string,
  target: r.target as string,
  url: r.url as string,
  taskId: r.task_id as string,
  eventSeq: r.event_seq as number,
  eventId: r.event_id as string,
  eventType: r.event_type as string,
  payload: r.payload as string,
  status: r.status as DeliveryStatus,
  attempts: r.attempts as number,
  nextAttemptAt: r.next_attempt_at as number | null,
  giveUpAt: r.give_up_at as number,
  leaseOwner: r.lease_owner as string | null,
  leaseUntil: r.lease_until as number | null,
  lastStatus: r.last_status as number | null,
  lastError: r.last_error as string | null,
  createdAt: r.created_at as number,
  deliveredAt: r.delivered_at as number | null,
  updatedAt: r.updated_at as number,
});

const toAttempt = (r: Row): Attempt => ({
  deliveryId: r.delivery_id as string,
  attempt: r.attempt as number,
  url: r.url as string,
  startedAt: r.started_at as number,
  durationMs: r.duration_ms as number,
  statusCode: r.status_code as number | null,
  error: r.error as string | null,
  responseBody: r.response_body as string | null,
});

const SQL = {
  insertEndpoint: `INSERT INTO webhook_endpoints
        (id, key_id, name, url, event_types, enabled, secret_sealed, secret_hint, created_at, updated_at)
        VALUES (@id, @keyId, @name, @url, @eventTypes, @enabled, @secretSealed, @secretHint, @createdAt, @updatedAt)`,
  endpoint: 'SELECT * FROM webhook_endpoints WHERE id = ?',
  endpointOfKey: 'SELECT * FROM webhook_endpoints WHERE id = ? AND key_id = ?',
  endpointsDesc: 'SELECT * FROM webhook_endpoints WHERE key_id = ? AND id < ? ORDER BY id DESC LIMIT ?',
  enabledEndpoints: 'SELECT * FROM webhook_endpoints WHERE key_id = ? AND enabled = 1',
  countEndpoints: 'SELECT COUNT(*) AS n FROM webhook_endpoints WHERE key_id = ?',
  deleteEndpoint: 'DELETE FROM webhook_endpoints WHERE id = ? AND key_id = ?',
  rotateEndpoint: `UPDATE webhook_endpoints SET secret_sealed = @secretSealed, secret_hint = @secretHint,
        previous_secret_sealed = @previousSecretSealed, previous_expires_at = @previousExpiresAt, updated_at = @now WHERE id = @id`,
  cancelPendingOf: `UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL, lease_owner = NULL,
        lease_until = NULL, last_error = @reason, updated_at = @now WHERE target = @target AND status = 'pending'`,
  callbackSecret: 'SELECT * FROM callback_secrets WHERE key_id = ?',
  insertCallbackSecret: `INSERT INTO callback_secrets (key_id, secret_sealed, secret_hint, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?) ON CONFLICT (key_id) DO NOTHING`,
  rotateCallbackSecret: `UPDATE callback_secrets SET secret_sealed = @secretSealed, secret_hint = @secretHint,
        previous_secret_sealed = @previousSecretSealed, previous_expires_at = @previousExpiresAt, updated_at = @now WHERE key_id = @keyId`,
  insertDelivery: `INSERT INTO webhook_deliveries
        (id, key_id, target, url, task_id, event_seq, event_id, event_type, payload, status, attempts, next_attempt_at, give_up_at, created_at, updated_at)
        VALUES (@id, @keyId, @target, @url, @taskId, @eventSeq, @eventId, @eventType, @payload, 'pending', 0, @createdAt, @giveUpAt, @createdAt, @createdAt)
        ON CONFLICT DO NOTHING`,
  delivery: 'SELECT * FROM webhook_deliveries WHERE id = ?',
  deliveryOfKey: 'SELECT * FROM webhook_deliveries WHERE id = ? AND key_id = ?',
  due: `SELECT d.* FROM webhook_deliveries d
        LEFT JOIN webhook_endpoints e ON e.id = d.target
        WHERE d.status = 'pending' AND d.next_attempt_at <= @now AND (d.lease_until IS NULL OR d.lease_until < @now)
          AND (d.target = 'callback' OR e.id IS NULL OR e.enabled = 1)
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
                          WHERE p.task_id = d.task_id AND p.target = d.target AND p.status = 'pending' AND p.event_seq < d.event_seq)
        ORDER BY d.next_attempt_at LIMIT @limit`,
  lease: `UPDATE webhook_deliveries SET lease_owner = @owner, lease_until = @until
        WHERE id = @id AND status = 'pending' AND attempts = @attempts AND next_attempt_at <= @now
          AND (lease_until IS NULL OR lease_until < @now)`,
  finish: `UPDATE webhook_deliveries SET status = @status, attempts = attempts + 1, next_attempt_at = @next,
        lease_owner = NULL, lease_until = NULL, last_status = @code, last_error = @error,
        delivered_at = COALESCE(@deliveredAt, delivered_at), updated_at = @now
        WHERE id = @id AND lease_owner = @owner`,
  release: 'UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?',
  cancel: `UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL,
        last_error = ?, updated_at = ? WHERE id = ? AND lease_owner = ?`,
  resend: `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = @now, give_up_at = @giveUpAt,
        updated_at = @now WHERE id = @id`,
  nextDue: `SELECT MIN(next_attempt_at) AS t FROM webhook_deliveries WHERE status = 'pending'`,
  backlog: `SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM webhook_deliveries WHERE status = 'pending'`,
  leaseOwners: `SELECT DISTINCT lease_owner AS owner FROM webhook_deliveries WHERE status = 'pending' AND lease_owner IS NOT NULL`,
  dropLeases: `UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL WHERE status = 'pending' AND lease_owner = ?`,
  insertAttempt: `INSERT INTO webhook_attempts (delivery_id, attempt, url, started_at, duration_ms, status_code, error, response_body)
        VALUES (@deliveryId, @attempt, @url, @startedAt, @durationMs, @statusCode, @error, @responseBody)`,
  attempts: 'SELECT * FROM webhook_attempts WHERE delivery_id = ? ORDER BY id',
  oldFinished: `SELECT id FROM webhook_deliveries WHERE status <> 'pending' AND updated_at < ? LIMIT ?`,
  deleteDelivery: 'DELETE FROM webhook_deliveries WHERE id = ?',
  deleteAttempts: 'DELETE FROM webhook_attempts WHERE delivery_id = ?',
};

export class WebhookStore {
  constructor(private readonly q: Sql) {}

  /** This store inside a transaction. */
  in(tx: Tx): WebhookStore {
    return new WebhookStore(tx);
  }

  // ---- endpoints ----

  async insertEndpoint(e: Endpoint): Promise<void> {
    (await this.q.run(SQL.insertEndpoint, { ...e, eventTypes: JSON.stringify(e.eventTypes), enabled: e.enabled ? 1 : 0 }));
  }

  async endpoint(id: string, keyId?: string): Promise<Endpoint | undefined> {
    const r = (keyId === undefined ? (await this.q.get(SQL.endpoint, [id])) : (await this.q.get(SQL.endpointOfKey, [id, keyId]))) as Row | undefined;
    return r && toEndpoint(r);
  }

  /** Newest first; limit + 1 rows at most so the caller can tell has_more. */
  async endpoints(keyId: string, after: string | undefined, limit: number): Promise<Endpoint[]> {
    return ((await this.q.all(SQL.endpointsDesc, [keyId, after ?? '\uffff', limit + 1])) as Row[]).map(toEndpoint);
  }

  /** Endpoints of every key (or one), newest first; limit + 1 rows at most. For operators. */
  async allEndpoints(keyId: string | undefined, after: string | undefined, limit: number): Promise<Endpoint[]> {
    const sql = `SELECT * FROM webhook_endpoints WHERE id < ?${keyId === undefined ? '' : ' AND key_id = ?'} ORDER BY id DESC LIMIT ?`;
    const params = keyId === undefined ? [after ?? '\uffff', limit + 1] : [after ?? '\uffff', keyId, limit + 1];
    return (await this.q.all<Row>(sql, params)).map(toEndpoint);
  }

  async enabledEndpoints(keyId: string): Promise<Endpoint[]> {
    return ((await this.q.all(SQL.enabledEndpoints, [keyId])) as Row[]).map(toEndpoint);
  }

  async countEndpoints(keyId: string): Promise<number> {
    return ((await this.q.get(SQL.countEndpoints, [keyId])) as { n: number }).n;
  }

  async updateEndpoint(id: string, patch: { name?: string; url?: string; eventTypes?: string[]; enabled?: boolean }, now: number): Promise<void> {
    const cols: Record<string, string | number> = { updated_at: now };
    if (patch.name !== undefined) cols.name = patch.name;
    if (patch.url !== undefined) cols.url = patch.url;
    if (patch.eventTypes !== undefined) cols.event_types = JSON.stringify(patch.eventTypes);
    if (patch.enabled !== undefined) cols.enabled = patch.enabled ? 1 : 0;
    const names = Object.keys(cols);
    await this.q.run(`UPDATE webhook_endpoints SET ${names.map((c) => `${c} = @${c}`).join(', ')} WHERE id = @id`, { ...cols, id });
  }

  async rotateEndpointSecret(id: string, next: { secretSealed: string; secretHint: string; previousSecretSealed: string | null; previousExpiresAt: number | null }, now: number): Promise<void> {
    (await this.q.run(SQL.rotateEndpoint, { ...next, id, now }));
  }

  /** Delete an endpoint; its pending deliveries are cancelled (kept for the record). */
  async deleteEndpoint(id: string, keyId: string, now: number): Promise<boolean> {
    if ((await this.q.run(SQL.deleteEndpoint, [id, keyId] )) === 0) return false;
    (await this.q.run(SQL.cancelPendingOf, { target: id, reason: 'the endpoint was deleted', now }));
    return true;
  }

  // ---- callback secrets ----

  async callbackSecret(keyId: string): Promise<CallbackSecret | undefined> {
    const r = (await this.q.get(SQL.callbackSecret, [keyId])) as Row | undefined;
    return r && toCallbackSecret(r);
  }

  /** Insert a key's callback secret unless one exists (a concurrent insert wins); returns the stored one. */
  async ensureCallbackSecret(keyId: string, secretSealed: string, secretHint: string, now: number): Promise<CallbackSecret> {
    (await this.q.run(SQL.insertCallbackSecret, [keyId, secretSealed, secretHint, now, now]));
    return (await this.callbackSecret(keyId))!;
  }

  async rotateCallbackSecret(keyId: string, next: { secretSealed: string; secretHint: string; previousSecretSealed: string | null; previousExpiresAt: number | null }, now: number): Promise<void> {
    (await this.q.run(SQL.rotateCallbackSecret, { ...next, keyId, now }));
  }

  // ---- deliveries ----

  async insertDelivery(d: Pick<Delivery, 'id' | 'keyId' | 'target' | 'url' | 'taskId' | 'eventSeq' | 'eventId' | 'eventType' | 'payload' | 'createdAt' | 'giveUpAt'>): Promise<void> {
    (await this.q.run(SQL.insertDelivery, d));
  }

  async delivery(id: string, keyId?: string): Promise<Delivery | undefined> {
    const r = (keyId === undefined ? (await this.q.get(SQL.delivery, [id])) : (await this.q.get(SQL.deliveryOfKey, [id, keyId]))) as Row | undefined;
    return r && toDelivery(r);
  }

  /** Deliveries (of a key, or of all keys), newest first; limit + 1 rows at most. */
  async deliveries(f: DeliveryFilter): Promise<Delivery[]> {
    const conds = ['id < @before'];
    if (f.keyId !== undefined) conds.push('key_id = @keyId');
    if (f.target !== undefined) conds.push('target = @target');
    if (f.taskId !== undefined) conds.push('task_id = @taskId');
    if (f.status !== undefined) conds.push('status = @status');
    if (f.eventType !== undefined) conds.push('event_type = @eventType');
    const sql = `SELECT * FROM webhook_deliveries WHERE ${conds.join(' AND ')} ORDER BY id DESC LIMIT @limit`;
    return ((await this.q.all(sql, { ...f, before: f.before ?? '\uffff', limit: f.limit + 1 })) as Row[]).map(toDelivery);
  }

  /** Due deliveries in due order; only the earliest pending one per (task, target). */
  async due(now: number, limit: number): Promise<Delivery[]> {
    return ((await this.q.all(SQL.due, { now, limit })) as Row[]).map(toDelivery);
  }

  /** Take the lease of a due delivery still as it was read (same attempt count), unless someone holds it. */
  async lease(d: Pick<Delivery, 'id' | 'attempts'>, owner: string, now: number, until: number): Promise<boolean> {
    return (await this.q.run(SQL.lease, { id: d.id, attempts: d.attempts, owner, now, until })) === 1;
  }

  /** Record an attempt and the delivery's new state, if `owner` still holds the lease. */
  async finish(
    d: Delivery,
    owner: string,
    outcome: { status: DeliveryStatus; next: number | null; deliveredAt: number | null; now: number },
    attempt: Omit<Attempt, 'deliveryId' | 'attempt'>,
  ): Promise<boolean> {
    const changed =
      (await this.q.run(SQL.finish, {
        id: d.id,
        owner,
        status: outcome.status,
        next: outcome.next,
        code: attempt.statusCode,
        error: attempt.error,
        deliveredAt: outcome.deliveredAt,
        now: outcome.now,
      })) === 1;
    if (changed) (await this.q.run(SQL.insertAttempt, { ...attempt, deliveryId: d.id, attempt: d.attempts + 1 }));
    return changed;
  }

  async release(id: string, owner: string): Promise<void> {
    (await this.q.run(SQL.release, [id, owner]));
  }

  async cancel(id: string, owner: string, reason: string, now: number): Promise<void> {
    (await this.q.run(SQL.cancel, [reason, now, id, owner]));
  }

  /** Make a delivery due now again (same webhook-id), retried for maxAge from now. */
  async resend(id: string, now: number, giveUpAt: number): Promise<void> {
    (await this.q.run(SQL.resend, { id, now, giveUpAt }));
  }

  async nextDueAt(): Promise<number | null> {
    return ((await this.q.get(SQL.nextDue)) as { t: number | null }).t;
  }

  /** Deliveries waiting to be sent or retried, and when the oldest of them was created (metrics). */
  async backlog(): Promise<{ pending: number; oldestCreatedAt: number | null }> {
    const r = (await this.q.get(SQL.backlog)) as { n: number; oldest: number | null };
    return { pending: r.n, oldestCreatedAt: r.oldest };
  }

  async leaseOwners(): Promise<string[]> {
    return ((await this.q.all(SQL.leaseOwners)) as { owner: string }[]).map((r) => r.owner);
  }

  async dropLeasesOf(owner: string): Promise<number> {
    return (await this.q.run(SQL.dropLeases, [owner] ));
  }

  async attempts(deliveryId: string): Promise<Attempt[]> {
    return ((await this.q.all(SQL.attempts, [deliveryId])) as Row[]).map(toAttempt);
  }

  /** Delete finished deliveries (and their attempts) last changed before `before`; returns how many. */
  async purgeFinished(before: number, limit: number): Promise<number> {
    const ids = ((await this.q.all(SQL.oldFinished, [before, limit])) as { id: string }[]).map((r) => r.id);
    for (const id of ids) {
      (await this.q.run(SQL.deleteAttempts, [id]));
      (await this.q.run(SQL.deleteDelivery, [id]));
    }
    return ids.length;
  }
}
