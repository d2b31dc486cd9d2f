import { useState } from 'preact/hooks';
import type { Links, Page as ListPage } from '../../api.js';
import { api } from '../../api.js';
import { bytes, clock, orientation, seconds, STATUS_LABEL, usd, when } from '../../format.js';
import { VideoPlayer } from '../../player.js';
import { currentQuery, Link, setQuery } from '../../router.js';
import { Empty, ErrorNote, Facts, Loading, Page, Pager, SelectField, StatusBadge, TextField, useAsync, usePager } from '../../ui.js';
import type { KeyView } from './keys.js';
import type { Delivery } from './webhooks.js';
import { DeliveryRows } from './webhooks.js';

interface AdminTask {
  id: string;
  task_id: string;
  key_id: string;
  key_name: string | null;
  origin: string;
  kind: string;
  model: string;
  prompt: string;
  seconds: string;
  size: string;
  status: string;
  progress: number;
  stage: string;
  error: { code: string; message: string } | null;
  channel: string | null;
  upstream_id: string | null;
  attempts: number;
  price_per_second_usd: number;
  quote_usd: number;
  cost_usd: number;
  actual_seconds: number | null;
  remixed_from_video_id: string | null;
  has_reference: boolean;
  callback_url: string | null;
  created_at: number;
  started_at: number | null;
  completed_at: number | null;
  expires_at: number | null;
  deleted_at: number | null;
}

interface TaskDetailView extends AdminTask {
  events: Array<{ seq: number; type: string; status: string; progress: number; data: Record<string, unknown> | null; created_at: number }>;
  ledger: Array<{ id: number; kind: string; amount_usd: number; balance_after_usd: number; note: string | null; created_at: number }>;
  assets: Array<{ variant: string; bytes: number; content_type: string }>;
  deliveries: Delivery[];
  links: Links | null;
}

const STATUSES = ['queued', 'in_progress', 'completed', 'failed', 'cancelled'];
const FILTERS = ['id', 'key_id', 'status', 'model', 'channel', 'q'] as const;
type Filters = Record<(typeof FILTERS)[number], string>;

function readFilters(): Filters {
  const q = currentQuery();
  return Object.fromEntries(FILTERS.map((f) => [f, q.get(f) ?? ''])) as Filters;
}

/** Every task on the gateway: search by id, key, status, model, channel or prompt text. */
export function Tasks() {
  const [filters, setFilters] = useState<Filters>(readFilters);
  const [draft, setDraft] = useState<Filters>(filters);
  const pager = usePager(JSON.stringify(filters));
  const keys = useAsync((signal) => api<{ data: KeyView[] }>('admin/v1/keys', { admin: true, signal }), []);
  const models = useAsync(
    (signal) =>
      api<{ data: Array<{ model: string }> }>('admin/v1/prices', { admin: true, signal })
        .then((r) => ({ data: [...new Set(r.data.map((p) => p.model))].map((id) => ({ id })) }))
        .catch(() => ({ data: [] as Array<{ id: string }> })),
    [],
  );
  const list = useAsync(
    (signal) => api<ListPage<AdminTask>>('admin/v1/tasks', { admin: true, query: { ...filters, after: pager.after, limit: 50 }, signal }),
    [JSON.stringify(filters), pager.after],
  );
  const apply = (next: Filters) => {
    setFilters(next);
    setDraft(next);
    setQuery(next);
  };
  const set = (k: keyof Filters) => (e: { currentTarget: { value: string } }) => setDraft({ ...draft, [k]: e.currentTarget.value });
  const modelIds = models.data?.data.map((m) => m.id) ?? [];
  const channels = useAsync(
    (signal) => api<{ data: Array<{ id: string }> }>('admin/v1/channels', { admin: true, signal }).catch(() => ({ data: [] as Array<{ id: string }> })),
    [],
  );
  const channelIds = channels.data?.data.map((c) => c.id) ?? [];

  return (
    <Page title="Tasks">
      <form
        class="filters"
        aria-label="Search tasks"
        onSubmit={(e) => {
          e.preventDefault();
          apply(draft);
        }}
      >
        <TextField label="Video or task id" value={draft.id} placeholder="video_… / task_…" onInput={set('id')} />
        <SelectField
          label="Key"
          value={draft.key_id}
          options={[{ value: '', label: 'All keys' }, ...(keys.data?.data ?? []).map((k) => ({ value: k.id, label: `${k.name} (${k.prefix}…)` }))]}
          onChange={set('key_id')}
        />
        <SelectField
          label="Status"
          value={draft.status}
          options={[{ value: '', label: 'All statuses' }, ...STATUSES.map((s) => ({ value: s, label: STATUS_LABEL[s] ?? s }))]}
          onChange={set('status')}
        />
        {modelIds.length > 0 ? (
          <SelectField label="Model" value={draft.model} options={[{ value: '', label: 'All models' }, ...modelIds.map((m) => ({ value: m, label: m }))]} onChange={set('model')} />
        ) : (
          <TextField label="Model" value={draft.model} onInput={set('model')} />
        )}
        {channelIds.length > 0 ? (
          <SelectField
            label="Channel"
            value={draft.channel}
            options={[{ value: '', label: 'All channels' }, ...['sandbox', ...channelIds].map((c) => ({ value: c, label: c }))]}
            onChange={set('channel')}
          />
        ) : (
          <TextField label="Channel" value={draft.channel} placeholder="sandbox, or a channel id" onInput={set('channel')} />
        )}
        <TextField label="Prompt contains" value={draft.q} onInput={set('q')} />
        <div class="filter-buttons">
          <button type="submit" class="button primary">
            Search
          </button>
          <button type="button" class="button" onClick={() => apply({ id: '', key_id: '', status: '', model: '', channel: '', q: '' })}>
            Clear
          </button>
        </div>
      </form>
      {list.loading && !list.data && <Loading label="Searching tasks…" />}
      {list.error !== undefined && <ErrorNote error={list.error} retry={list.reload} title="The search failed" />}
      {list.data && list.data.data.length === 0 && (
        <Empty>
          <p>No tasks match.</p>
        </Empty>
      )}
      {list.data && list.data.data.length > 0 && (
        <div class="table-wrap">
          <table class="table responsive" aria-busy={list.loading} data-testid="tasks-table">
            <caption class="sr-only">Tasks, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Video</th>
                <th scope="col">Status</th>
                <th scope="col">Key</th>
                <th scope="col">Model</th>
                <th scope="col">Channel</th>
                <th scope="col" class="num">Cost</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((t) => (
                <tr key={t.id} class={t.deleted_at ? 'revoked' : ''}>
                  <th scope="row" data-label="Video">
                    <Link to={`admin/tasks/${t.id}`}>{t.id}</Link>
                    <br />
                    <span class="muted small clamp">{t.prompt}</span>
                  </th>
                  <td data-label="Status">
                    <StatusBadge status={t.status} /> {t.status === 'in_progress' && `${t.progress}%`}
                    {t.deleted_at && <span class="badge">deleted</span>}
                    {t.error && <div class="small muted">{t.error.code}</div>}
                  </td>
                  <td data-label="Key">{t.key_name ?? t.key_id}</td>
                  <td data-label="Model">
                    {t.model}
                    <br />
                    <span class="muted small">
                      {t.size} · {t.seconds} s
                    </span>
                  </td>
                  <td data-label="Channel">{t.channel ?? '—'}</td>
                  <td data-label="Cost" class="num">
                    {usd(t.cost_usd)}
                  </td>
                  <td data-label="Created">{when(t.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list.data && <Pager label="Tasks" page={pager.page} hasMore={list.data.has_more} lastId={list.data.last_id} onOlder={pager.older} onNewer={pager.newer} />}
    </Page>
  );
}

/** One task as operators see it: all fields, events, ledger entries, webhook deliveries and the video. */
export function TaskDetail({ id }: { id: string }) {
  const task = useAsync((signal) => api<TaskDetailView>(`admin/v1/tasks/${encodeURIComponent(id)}`, { admin: true, signal }), [id]);
  if (task.loading && !task.data) return <Page title="Task"><Loading /></Page>;
  if (task.error !== undefined || !task.data) {
    return (
      <Page title="Task">
        <ErrorNote error={task.error} retry={task.reload} title="This task could not be loaded" />
        <p>
          <Link to="admin/tasks">Back to all tasks</Link>
        </p>
      </Page>
    );
  }
  const t = task.data;
  return (
    <Page
      title="Task"
      actions={
        <button type="button" class="button" onClick={task.reload}>
          Refresh
        </button>
      }
    >
      <p class="crumbs">
        <Link to="admin/tasks">Tasks</Link> / <code>{t.id}</code> <span class="muted">({t.task_id})</span>
      </p>
      {t.error && (
        <div class="note error" role="alert" data-testid="error-reason">
          <p>
            <strong>{t.status === 'cancelled' ? 'Cancelled' : 'Failed'}:</strong> {t.error.message} <code>{t.error.code}</code>
          </p>
        </div>
      )}
      <div class="detail">
        <div class="detail-main">
          {t.links && <VideoPlayer links={t.links} title={t.prompt} />}
          <blockquote class="prompt">{t.prompt}</blockquote>
          <h2 class="h3">Events</h2>
          <div class="table-wrap">
            <table class="table compact">
              <caption class="sr-only">Task events, oldest first</caption>
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">Time</th>
                  <th scope="col">Event</th>
                  <th scope="col">Status</th>
                  <th scope="col">Progress</th>
                </tr>
              </thead>
              <tbody>
                {t.events.map((e) => (
                  <tr key={e.seq}>
                    <td>{e.seq}</td>
                    <td>{clock(e.created_at)}</td>
                    <td>
                      <code>{e.type}</code>
                    </td>
                    <td>{e.status}</td>
                    <td>{e.progress}%</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <h2 class="h3">Ledger</h2>
          {t.ledger.length === 0 ? (
            <p class="muted">No ledger entries (free, test key, or not charged yet).</p>
          ) : (
            <ul class="plain">
              {t.ledger.map((e) => (
                <li key={e.id}>
                  {when(e.created_at)} — <strong>{e.kind}</strong> {usd(e.amount_usd)} (balance {usd(e.balance_after_usd)}) {e.note && <span class="muted">{e.note}</span>}
                </li>
              ))}
            </ul>
          )}
          <h2 class="h3">Webhook deliveries</h2>
          {t.deliveries.length === 0 ? <p class="muted">None.</p> : <DeliveryRows deliveries={t.deliveries} onChanged={task.reload} />}
        </div>
        <aside class="detail-side">
          <Facts
            items={[
              ['Status', <><StatusBadge status={t.status} /> {t.progress}% · stage {t.stage}</>],
              ['Key', <Link to={`admin/tasks?key_id=${t.key_id}`}>{t.key_name ?? t.key_id}</Link>],
              ['Dialect', `${t.origin} (${t.kind})`],
              ['Model', t.model],
              ['Size', orientation(t.size)],
              ['Duration', t.actual_seconds ? `${seconds(t.actual_seconds)} of ${t.seconds} s` : `${t.seconds} s`],
              ['Channel', t.channel ?? '—'],
              ['Upstream id', t.upstream_id ?? '—'],
              ['Attempts', String(t.attempts)],
              ['Price', `${usd(t.price_per_second_usd)}/s, quoted ${usd(t.quote_usd)}`],
              ['Cost', usd(t.cost_usd)],
              ['Reference image', t.has_reference ? 'yes' : 'no'],
              ['Callback URL', t.callback_url ?? '—'],
              ['Remixed from', t.remixed_from_video_id ? <Link to={`admin/tasks/${t.remixed_from_video_id}`}>{t.remixed_from_video_id}</Link> : '—'],
              ['Created', when(t.created_at)],
              ['Started', when(t.started_at)],
              ['Finished', when(t.completed_at)],
              ['Files kept until', when(t.expires_at)],
              ['Deleted', when(t.deleted_at)],
              ['Files', t.assets.length ? t.assets.map((a) => `${a.variant} ${bytes(a.bytes)}`).join(', ') : '—'],
            ]}
          />
        </aside>
      </div>
    </Page>
  );
}
