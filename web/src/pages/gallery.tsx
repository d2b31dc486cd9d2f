import { useEffect, useState } from 'preact/hooks';
import type { GalleryItem, Model, Page as ListPage } from '../api.js';
import { api } from '../api.js';
import { seconds, STATUS_LABEL, usd, when } from '../format.js';
import { currentQuery, Link, setQuery } from '../router.js';
import { Empty, ErrorNote, Loading, Page, Pager, SelectField, StatusBadge, useAsync, usePager } from '../ui.js';

const STATUSES = ['queued', 'in_progress', 'completed', 'failed', 'cancelled'];

/** The key's videos as thumbnails, newest first, filtered by status and model. */
export function Gallery() {
  const q = currentQuery();
  const [status, setStatus] = useState(q.get('status') ?? '');
  const [model, setModel] = useState(q.get('model') ?? '');
  const pager = usePager(`${status}|${model}`);
  const models = useAsync((signal) => api<{ data: Model[] }>('v1/models', { signal }), []);
  const list = useAsync(
    (signal) => api<ListPage<GalleryItem>>('v1/gallery', { query: { status, model, after: pager.after, limit: 24 }, signal }),
    [status, model, pager.after],
  );
  // While some of the shown videos are still rendering, refresh the page of results now and then.
  const running = list.data?.data.some((v) => v.status === 'queued' || v.status === 'in_progress') ?? false;
  useEffect(() => {
    if (!running || list.loading) return undefined;
    const t = setTimeout(list.reload, 3000);
    return () => clearTimeout(t);
  }, [running, list.loading, list.data]);
  const filter = (next: { status?: string; model?: string }) => {
    const s = next.status ?? status;
    const m = next.model ?? model;
    setStatus(s);
    setModel(m);
    setQuery({ status: s, model: m });
  };

  return (
    <Page title="Gallery" actions={<Link class="button primary" to="playground">New video</Link>}>
      <form class="filters" aria-label="Filter videos" onSubmit={(e) => e.preventDefault()}>
        <SelectField
          label="Status"
          value={status}
          options={[{ value: '', label: 'All statuses' }, ...STATUSES.map((s) => ({ value: s, label: STATUS_LABEL[s] ?? s }))]}
          onChange={(e) => filter({ status: e.currentTarget.value })}
        />
        <SelectField
          label="Model"
          value={model}
          options={[{ value: '', label: 'All models' }, ...(models.data?.data ?? []).map((m) => ({ value: m.id, label: m.id }))]}
          onChange={(e) => filter({ model: e.currentTarget.value })}
        />
      </form>
      {list.loading && !list.data && <Loading label="Loading your videos…" />}
      {list.error !== undefined && <ErrorNote error={list.error} retry={list.reload} title="Your videos could not be loaded" />}
      {list.data && list.data.data.length === 0 && (
        <Empty>
          {status || model ? (
            <p>No videos match these filters.</p>
          ) : (
            <p>
              No videos yet. <Link to="playground">Make your first one in the playground.</Link>
            </p>
          )}
        </Empty>
      )}
      {list.data && list.data.data.length > 0 && (
        <ul class="gallery" aria-busy={list.loading} data-testid="gallery">
          {list.data.data.map((v) => (
            <li key={v.id} class="tile">
              <Link to={`videos/${v.id}`} class="tile-link">
                <div class="tile-thumb">
                  {v.thumbnail_url ? (
                    <img src={v.thumbnail_url} alt="" loading="lazy" />
                  ) : (
                    <span class={`tile-empty ph-${v.status}`} aria-hidden="true">
                      {v.status === 'in_progress' ? `${v.progress}%` : STATUS_LABEL[v.status]}
                    </span>
                  )}
                </div>
                <span class="tile-prompt">{v.prompt}</span>
              </Link>
              <div class="tile-meta">
                <StatusBadge status={v.status} />
                <span>{v.model}</span>
                <span>{seconds(v.actual_seconds ?? v.seconds)}</span>
                <span>{v.status === 'queued' || v.status === 'in_progress' ? `${usd(v.cost_usd)} held` : usd(v.cost_usd)}</span>
              </div>
              <div class="tile-date muted">{when(v.created_at)}</div>
            </li>
          ))}
        </ul>
      )}
      {list.data && (
        <Pager label="Gallery" page={pager.page} hasMore={list.data.has_more} lastId={list.data.last_id} onOlder={pager.older} onNewer={pager.newer} />
      )}
    </Page>
  );
}
