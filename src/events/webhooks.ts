import { ulid } from 'ulid';
import { ApiError, conflict, notFound } from '../core/errors.js';
import type { Database } from '../store/sql.js';
import type { Secrets } from '../util/secrets.js';
import { newSigningSecret, secretHint } from './signing.js';
import type { CallbackSecret, Delivery, Endpoint } from './store.js';
import { CALLBACK_TARGET, WebhookStore } from './store.js';

/** Endpoints one key may have. */
export const MAX_ENDPOINTS_PER_KEY = 20;

/** What `keep_old_secret_active_for_24_hours` keeps the old secret for. */
export const SDK_ROTATION_GRACE_MS = 24 * 3600_000;

export interface RotationState {
  secretSealed: string;
  previousSecretSealed: string | null;
  previousExpiresAt: number | null;
}

/** Where and how one delivery is sent now, or why it is not. */
export type Target =
  | { kind: 'send'; url: string; secrets: string[] }
  | { kind: 'cancel'; reason: string }
  | { kind: 'skip' };

export interface EndpointInput {
  name: string;
  url: string;
  eventTypes: string[];
  enabled: boolean;
}

/**
 * Endpoints, their secrets (sealed at rest) and rotation, the per-key callback secret, and the
 * key-facing view of deliveries. The HTTP routes and the delivery loop both go through here.
 */
export class WebhookService {
  readonly store: WebhookStore;

  constructor(
    private readonly db: Database,
    private readonly secrets: Secrets,
    private readonly opts: { now: () => number; maxAgeMs: number },
  ) {
    this.store = new WebhookStore(db);
  }

  now(): number {
    return this.opts.now();
  }

  // ---- endpoints ----

  /** Create an endpoint; returns it with its new secret (shown in full this once). */
  async createEndpoint(keyId: string, input: EndpointInput): Promise<{ endpoint: Endpoint; secret: string }> {
    const now = this.now();
    const secret = newSigningSecret();
    const endpoint: Endpoint = {
      id: `whe_${ulid(now)}`,
      keyId,
      name: input.name,
      url: input.url,
      eventTypes: input.eventTypes,
      enabled: input.enabled,
      secretSealed: this.secrets.seal(secret),
      secretHint: secretHint(secret),
      previousSecretSealed: null,
      previousExpiresAt: null,
      createdAt: now,
      updatedAt: now,
    };
    await this.db.transaction(async (tx) => {
      const store = this.store.in(tx);
      // The key's row, locked (PostgreSQL) until this commits, so that concurrent creates count one after the other.
      await tx.run('UPDATE api_keys SET inflight = inflight WHERE id = ?', [keyId]);
      if ((await store.countEndpoints(keyId)) >= MAX_ENDPOINTS_PER_KEY) {
        throw new ApiError({
          status: 400,
          type: 'invalid_request_error',
          code: 'too_many_endpoints',
          param: null,
          message: `This key already has ${MAX_ENDPOINTS_PER_KEY} webhook endpoints, the most it may have. Delete one first.`,
        });
      }
      await store.insertEndpoint(endpoint);
    });
    return { endpoint, secret };
  }

  /** The caller's endpoint, or a 404 naming it. */
  async endpoint(keyId: string, id: string): Promise<Endpoint> {
    const e = await this.store.endpoint(id, keyId);
    if (!e) throw notFound(`No webhook endpoint found with id '${id}'.`, 'webhook_endpoint_id');
    return e;
  }

  async updateEndpoint(keyId: string, id: string, patch: Partial<EndpointInput>): Promise<Endpoint> {
    await this.endpoint(keyId, id);
    await this.store.updateEndpoint(id, patch, this.now());
    return this.endpoint(keyId, id);
  }

  async deleteEndpoint(keyId: string, id: string): Promise<void> {
    await this.endpoint(keyId, id);
    await this.db.transaction((tx) => this.store.in(tx).deleteEndpoint(id, keyId, this.now()));
  }

  /**
   * Give an endpoint a new secret. With a grace period the old secret stays valid until then:
   * every delivery (retries included) is signed with both, so no receiver rejects one while it
   * switches. A second rotation within the grace period drops the oldest secret.
   */
  async rotateEndpoint(keyId: string, id: string, graceMs: number): Promise<{ endpoint: Endpoint; secret: string }> {
    const e = await this.endpoint(keyId, id);
    const now = this.now();
    const { secret, next } = this.rotation(e, graceMs, now);
    await this.store.rotateEndpointSecret(id, next, now);
    return { endpoint: await this.endpoint(keyId, id), secret };
  }

  /** The secrets an endpoint signs with now: current first, then the previous one in its grace period. */
  activeSecrets(s: RotationState, now = this.now()): string[] {
    const list = [this.secrets.open(s.secretSealed)];
    if (s.previousSecretSealed && s.previousExpiresAt !== null && s.previousExpiresAt > now) list.push(this.secrets.open(s.previousSecretSealed));
    return list;
  }

  /** Plain secrets for their owner: current, and previous while it is still valid. */
  reveal(s: RotationState, now = this.now()): { secret: string; previous: string | null } {
    const [secret, previous] = this.activeSecrets(s, now);
    return { secret: secret!, previous: previous ?? null };
  }

  private rotation(current: RotationState, graceMs: number, now: number) {
    const secret = newSigningSecret();
    return {
      secret,
      next: {
        secretSealed: this.secrets.seal(secret),
        secretHint: secretHint(secret),
        previousSecretSealed: graceMs > 0 ? current.secretSealed : null,
        previousExpiresAt: graceMs > 0 ? now + graceMs : null,
      },
    };
  }

  // ---- callback secret (one per key, signs callback_url deliveries) ----

  async callbackSecret(keyId: string): Promise<CallbackSecret> {
    const existing = await this.store.callbackSecret(keyId);
    if (existing) return existing;
    const secret = newSigningSecret();
    return this.db.transaction((tx) => this.store.in(tx).ensureCallbackSecret(keyId, this.secrets.seal(secret), secretHint(secret), this.now()));
  }

  async rotateCallbackSecret(keyId: string, graceMs: number): Promise<{ state: CallbackSecret; secret: string }> {
    const current = await this.callbackSecret(keyId);
    const now = this.now();
    const { secret, next } = this.rotation(current, graceMs, now);
    await this.store.rotateCallbackSecret(keyId, next, now);
    return { state: (await this.store.callbackSecret(keyId))!, secret };
  }

  // ---- deliveries ----

  /** Where a delivery goes now (an endpoint's current URL and secrets) and with which secrets. */
  async targetFor(d: Delivery, now = this.now()): Promise<Target> {
    if (d.target === CALLBACK_TARGET) return { kind: 'send', url: d.url, secrets: this.activeSecrets(await this.callbackSecret(d.keyId), now) };
    const e = await this.store.endpoint(d.target);
    if (!e) return { kind: 'cancel', reason: 'the endpoint was deleted' };
    if (!e.enabled) return { kind: 'skip' };
    return { kind: 'send', url: e.url, secrets: this.activeSecrets(e, now) };
  }

  async delivery(keyId: string, id: string): Promise<Delivery> {
    const d = await this.store.delivery(id, keyId);
    if (!d) throw notFound(`No webhook delivery found with id '${id}'.`, 'delivery_id');
    return d;
  }

  /** Send a delivery again with the same webhook-id (a new attempt), retried as usual from now. */
  async resend(keyId: string, id: string): Promise<Delivery> {
    const d = await this.delivery(keyId, id);
    if (d.status === 'cancelled' || (d.target !== CALLBACK_TARGET && !(await this.store.endpoint(d.target)))) {
      throw conflict(`Delivery ${id} cannot be re-sent: its webhook endpoint was deleted.`, 'endpoint_deleted');
    }
    const now = this.now();
    await this.store.resend(id, now, now + this.opts.maxAgeMs);
    return this.delivery(keyId, id);
  }
}
