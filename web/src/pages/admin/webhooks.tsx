import { useState } from 'preact/hooks';
import type { Page as ListPage } from '../../api.js';
import { api } from '../../api.js';
import { STATUS_LABEL, when } from '../../format.js';
import { currentQuery, Link, setQuery } from '../../router.js';
import { announce, Empty, ErrorNote, Loading, Page, Pager, SelectField, useAsync, usePager } from '../../ui.js';
import type { KeyView } from './keys.js';

interface Endpoint {
  id: string;
  name: string;
  url: string;
  event_types: string[];
  enabled: boolean;
  signing_secret_hint: string;
  created_at: number;
  key_id: string;
  key_name: string | null;
}

export interface Delivery {
  id: string;
  endpoint_id: string | null;
  kind: 'endpoint' | 'callback';
  url: string;
  event_type: string;
  video_id: string | null;
  status: string;
  attempt_count: number;
  next_attempt_at: number | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: number;
  delivered_at: number | null;
  attempts: Array<{ attempt: number; url: string; started_at: number; duration_ms: number; status_code: number | null; error: string | null; response_body: string | null }>;
  key_id?: string;
  key_name?: string | null;
}

const DELIVERY_STATUSES = ['pending', 'delivered', 'failed', 'cancelled'];
const EVENT_TYPES = ['video.completed', 'video.failed', 'video.cancelled', 'video.in_progress'];

/** Deliveries with their attempts (expandable) and a re-send button each. */
export function DeliveryRows({ deliveries, onChanged }: { deliveries: Delivery[]; onChanged: () => void }) {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const resend = async (d: Delivery) => {
    setBusy(d.id);
    setError(null);
    try {
      await api(`admin/v1/webhook_deliveries/${encodeURIComponent(d.id)}/resend`, { method: 'POST', admin: true });
      announce(`Delivery ${d.id} queued to be sent again.`);
      onChanged();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };
  return (
    <>
      {error !== null && <ErrorNote error={error} title="The delivery was not re-sent" />}
      <ul class="deliveries" data-testid="deliveries">
        {deliveries.map((d) => (
          <li key={d.id} class="delivery card" data-delivery-id={d.id}>
            <div class="delivery-head">
              <span class={`badge badge-${d.status}`}>{STATUS_LABEL[d.status] ?? d.status}</span>
              <code>{d.event_type}</code>
              {d.video_id && <Link to={`admin/tasks/${d.video_id}`}>{d.video_id}</Link>}
              {d.key_name !== undefined && <span class="muted">{d.key_name ?? d.key_id}</span>}
              <button
                type="button"
                class="button small"
                disabled={busy === d.id || d.status === 'cancelled'}
                onClick={() => void resend(d)}
                aria-label={`Re-send delivery ${d.id}`}
              >
                {busy === d.id ? 'Sending…' : 'Re-send'}
              </button>
            </div>
            <p class="small break">
              {d.kind === 'callback' ? 'callback_url' : 'endpoint'} → {d.url}
            </p>
            <p class="small muted">
              {d.attempt_count} attempt{d.attempt_count === 1 ? '' : 's'}
              {d.last_status_code !== null && ` · last answer HTTP ${d.last_status_code}`}
              {d.last_error && ` · ${d.last_error}`}
              {d.next_attempt_at && ` · next try ${when(d.next_attempt_at)}`}
              {d.delivered_at && ` · delivered ${when(d.delivered_at)}`}
            </p>
            {d.attempts.length > 0 && (
              <details>
                <summary>Attempts</summary>
                <ol class="attempts">
                  {d.attempts.map((a) => (
                    <li key={a.attempt}>
                      {when(a.started_at)} — {a.status_code !== null ? `HTTP ${a.status_code}` : a.error} in {a.duration_ms} ms
                      {a.response_body && <pre class="small">{a.response_body}</pre>}
                    </li>
                  ))}
                </ol>
              </details>
            )}
          </li>
        ))}
      </ul>
    </>
  );
}

/** Webhook endpoints of every key, and deliveries with filters and re-send. */
export function Webhooks() {
  const q = currentQuery();
  const [keyId, setKeyId] = useState(q.get('key_id') ?? '');
  const [status, setStatus] = useState(q.get('status') ?? '');
  const [eventType, setEventType] = useState(q.get('event_type') ?? '');
  const keys = useAsync((signal) => api<{ data: KeyView[] }>('admin/v1/keys', { admin: true, signal }), []);
  const endpoints = useAsync(
    (signal) => api<ListPage<Endpoint>>('admin/v1/webhook_endpoints', { admin: true, query: { key_id: keyId, limit: 100 }, signal }),
    [keyId],
  );
  const pager = usePager(`${keyId}|${status}|${eventType}`);
  const deliveries = useAsync(
    (signal) =>
      api<ListPage<Delivery>>('admin/v1/webhook_deliveries', { admin: true, query: { key_id: keyId, status, event_type: eventType, after: pager.after, limit: 25 }, signal }),
    [keyId, status, eventType, pager.after],
  );
  const update = (next: { key_id?: string; status?: string; event_type?: string }) => {
    const k = next.key_id ?? keyId;
    const s = next.status ?? status;
    const t = next.event_type ?? eventType;
    setKeyId(k);
    setStatus(s);
    setEventType(t);
    setQuery({ key_id: k, status: s, event_type: t });
  };

  return (
    <Page title="Webhooks">
      <form class="filters" aria-label="Filter webhooks" onSubmit={(e) => e.preventDefault()}>
        <SelectField
          label="Key"
          value={keyId}
          options={[{ value: '', label: 'All keys' }, ...(keys.data?.data ?? []).map((k) => ({ value: k.id, label: `${k.name} (${k.prefix}…)` }))]}
          onChange={(e) => update({ key_id: e.currentTarget.value })}
        />
        <SelectField
          label="Delivery status"
          value={status}
          options={[{ value: '', label: 'All' }, ...DELIVERY_STATUSES.map((s) => ({ value: s, label: STATUS_LABEL[s] ?? s }))]}
          onChange={(e) => update({ status: e.currentTarget.value })}
        />
        <SelectField
          label="Event type"
          value={eventType}
          options={[{ value: '', label: 'All' }, ...EVENT_TYPES.map((t) => ({ value: t, label: t }))]}
          onChange={(e) => update({ event_type: e.currentTarget.value })}
        />
      </form>

      <h2>Endpoints</h2>
      {endpoints.loading && !endpoints.data && <Loading label="Loading endpoints…" />}
      {endpoints.error !== undefined && <ErrorNote error={endpoints.error} retry={endpoints.reload} title="The endpoints could not be loaded" />}
      {endpoints.data && endpoints.data.data.length === 0 && (
        <Empty>
          <p>
            No webhook endpoints. Keys add them with <code>client.webhooks.create</code> or <code>npx vidgate webhook add</code>.
          </p>
        </Empty>
      )}
      {endpoints.data && endpoints.data.data.length > 0 && (
        <div class="table-wrap">
          <table class="table responsive" data-testid="endpoints-table">
            <caption class="sr-only">Webhook endpoints of all keys</caption>
            <thead>
              <tr>
                <th scope="col">Endpoint</th>
                <th scope="col">Key</th>
                <th scope="col">Events</th>
                <th scope="col">State</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {endpoints.data.data.map((e) => (
                <tr key={e.id}>
                  <th scope="row" data-label="Endpoint">
                    {e.name}
                    <br />
                    <span class="small break">{e.url}</span>
                    <br />
                    <span class="muted small">
                      {e.id} · secret {e.signing_secret_hint}
                    </span>
                  </th>
                  <td data-label="Key">{e.key_name ?? e.key_id}</td>
                  <td data-label="Events" class="small">
                    {e.event_types.join(', ')}
                  </td>
                  <td data-label="State">{e.enabled ? <span class="badge badge-completed">enabled</span> : <span class="badge">disabled</span>}</td>
                  <td data-label="Created">{when(e.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h2>Deliveries</h2>
      {deliveries.loading && !deliveries.data && <Loading label="Loading deliveries…" />}
      {deliveries.error !== undefined && <ErrorNote error={deliveries.error} retry={deliveries.reload} title="The deliveries could not be loaded" />}
      {deliveries.data && deliveries.data.data.length === 0 && (
        <Empty>
          <p>No deliveries{status || eventType ? ' match these filters' : ' yet'}.</p>
        </Empty>
      )}
      {deliveries.data && deliveries.data.data.length > 0 && <DeliveryRows deliveries={deliveries.data.data} onChanged={deliveries.reload} />}
      {deliveries.data && (
        <Pager label="Deliveries" page={pager.page} hasMore={deliveries.data.has_more} lastId={deliveries.data.last_id} onOlder={pager.older} onNewer={pager.newer} />
      )}
    </Page>
  );
}
