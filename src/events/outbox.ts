import { monotonicFactory } from 'ulid';
import type { TaskService } from '../core/service.js';
import { whenAppended } from '../core/service.js';
import { buildEvent, CALLBACK_EVENT_TYPES, isWebhookEventType } from './payload.js';
import type { WebhookStore } from './store.js';
import { CALLBACK_TARGET } from './store.js';

const nextUlid = monotonicFactory();

/**
 * The outbox: inside the transaction of every task event, one delivery row per enabled endpoint
 * of the task's key that wants the event type, plus one for the task's callback_url. The rows
 * commit exactly when the state change does, so no event is lost (a crash after the commit
 * leaves the rows to deliver) or invented (a rolled-back change leaves none).
 */
export function registerOutbox(service: TaskService, store: WebhookStore, opts: { maxAgeMs: number }): void {
  service.onEvent(async (tx, event, task) => {
    if (!isWebhookEventType(event.type)) return;
    const s = store.in(tx);
    const endpoints = (await s.enabledEndpoints(task.keyId)).filter((e) => e.eventTypes.includes(event.type));
    const callbackUrl = task.params.callbackUrl && CALLBACK_EVENT_TYPES.has(event.type) ? task.params.callbackUrl : undefined;
    if (endpoints.length === 0 && !callbackUrl) return;
    const eventId = `evt_${nextUlid(event.createdAt)}`;
    const payload = JSON.stringify(buildEvent(eventId, event, task));
    const common = {
      keyId: task.keyId,
      taskId: task.id,
      eventId,
      eventType: event.type,
      payload,
      createdAt: event.createdAt,
      giveUpAt: event.createdAt + opts.maxAgeMs,
    };
    const rows = endpoints.map((e) => ({ id: `msg_${nextUlid(event.createdAt)}`, target: e.id, url: e.url }));
    if (callbackUrl) rows.push({ id: `msg_${nextUlid(event.createdAt)}`, target: CALLBACK_TARGET, url: callbackUrl });
    // The rows carry the event's seq, which on PostgreSQL is known only at the end of the transaction.
    await whenAppended(tx, event, async () => {
      for (const r of rows) await s.insertDelivery({ ...common, eventSeq: event.seq, ...r });
    });
  });
}
