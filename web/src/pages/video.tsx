import { useEffect, useState } from 'preact/hooks';
import type { GalleryItem, Links, VideoEvent } from '../api.js';
import { api } from '../api.js';
import { clock, orientation, seconds, usd, when } from '../format.js';
import { VideoPlayer } from '../player.js';
import { Link, navigate } from '../router.js';
import { useVideoStream } from '../stream.js';
import { announce, Dialog, ErrorNote, Facts, Loading, Page, StatusBadge, useAsync } from '../ui.js';
import { RemixForm } from './playground.js';

export function EventLog({ events }: { events: VideoEvent[] }) {
  if (events.length === 0) return <p class="muted">No events yet.</p>;
  return (
    <div class="table-wrap">
      <table class="table compact" data-testid="event-log">
        <caption class="sr-only">Events of this video, oldest first</caption>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Time</th>
            <th scope="col">Event</th>
            <th scope="col">Progress</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.seq}>
              <td>{e.seq}</td>
              <td>{clock(e.created_at)}</td>
              <td>
                <code>{e.type}</code>
                {e.error && <span class="muted"> — {e.error.code}: {e.error.message}</span>}
              </td>
              <td>{e.progress}%</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** One of the key's videos: details, error reason, events (live while it runs), the player and remix. */
export function VideoDetail({ id }: { id: string }) {
  const item = useAsync((signal) => api<GalleryItem>(`v1/gallery/${encodeURIComponent(id)}`, { signal }), [id]);
  const stream = useVideoStream(item.data ? id : null);
  const status = stream.status ?? item.data?.status ?? null;
  const links = useAsync<Links | undefined>(
    (signal) => (status === 'completed' ? api<Links>(`v1/videos/${encodeURIComponent(id)}/links`, { signal }) : Promise.resolve(undefined)),
    [id, status],
  );
  // Once the stream says the video ended, read its final cost and times again.
  useEffect(() => {
    if (stream.done && item.data && (item.data.status === 'queued' || item.data.status === 'in_progress')) item.reload();
  }, [stream.done]);
  const [confirm, setConfirm] = useState(false);
  const [deleteError, setDeleteError] = useState<unknown>(null);

  if (item.loading && !item.data) return <Page title="Video"><Loading /></Page>;
  if (item.error !== undefined || !item.data) {
    return (
      <Page title="Video">
        <ErrorNote error={item.error} retry={item.reload} title="This video could not be loaded" />
        <p>
          <Link to="gallery">Back to the gallery</Link>
        </p>
      </Page>
    );
  }
  const v = item.data;
  const error = stream.error ?? v.error;
  return (
    <Page
      title="Video"
      actions={
        <button type="button" class="button danger" onClick={() => setConfirm(true)}>
          {status === 'queued' || status === 'in_progress' ? 'Cancel and delete' : 'Delete'}
        </button>
      }
    >
      <p class="crumbs">
        <Link to="gallery">Gallery</Link> / <code>{v.id}</code>
      </p>
      <div class="detail">
        <div class="detail-main">
          {status === 'completed' && links.data && <VideoPlayer links={links.data} title={v.prompt} />}
          {status === 'completed' && links.error !== undefined && <ErrorNote error={links.error} title="The files are unavailable" />}
          {(status === 'queued' || status === 'in_progress') && (
            <div class="progress-wrap card">
              <label for="detail-progress" class="progress-label">
                {status === 'queued' ? 'Waiting in the queue' : 'Rendering'} — {stream.progress}%
              </label>
              <progress id="detail-progress" max={100} value={stream.progress} />
            </div>
          )}
          {(status === 'failed' || status === 'cancelled') && error && (
            <div class="note error" role="alert" data-testid="error-reason">
              <p>
                <strong>{status === 'failed' ? 'Failed' : 'Cancelled'}:</strong> {error.message} <code>{error.code}</code>
              </p>
            </div>
          )}
          <blockquote class="prompt">{v.prompt}</blockquote>
          {status === 'completed' && links.data && <RemixForm sourceId={v.id} onRemixed={(nid) => navigate(`videos/${nid}`)} />}
        </div>
        <aside class="detail-side">
          <Facts
            items={[
              ['Status', status ? <StatusBadge status={status} /> : '—'],
              ['Model', v.model],
              ['Size', orientation(v.size)],
              ['Duration', v.actual_seconds ? `${seconds(v.actual_seconds)} (asked ${v.seconds} s)` : `${v.seconds} s`],
              ['Cost', status === 'queued' || status === 'in_progress' ? `${usd(v.cost_usd)} held` : usd(v.cost_usd)],
              ['Price', `${usd(v.price_per_second_usd)}/s`],
              ['Created', when(v.created_at)],
              ['Finished', when(v.completed_at)],
              ['Files kept until', when(v.expires_at)],
              ['Remixed from', v.remixed_from_video_id ? <Link to={`videos/${v.remixed_from_video_id}`}>{v.remixed_from_video_id}</Link> : '—'],
            ]}
          />
          <h2 class="h3">Events</h2>
          <EventLog events={stream.events} />
        </aside>
      </div>
      <Dialog title="Delete this video?" open={confirm} onClose={() => setConfirm(false)}>
        <p>
          {status === 'queued' || status === 'in_progress'
            ? 'It is still rendering: it will be cancelled (its credit hold is released) and removed.'
            : 'Its files are removed for good. Usage and billing history keep it.'}
        </p>
        {deleteError !== null && <ErrorNote error={deleteError} title="It was not deleted" />}
        <div class="row end">
          <button type="button" class="button" onClick={() => setConfirm(false)}>
            Keep it
          </button>
          <button
            type="button"
            class="button danger"
            onClick={async () => {
              try {
                await api(`v1/videos/${encodeURIComponent(v.id)}`, { method: 'DELETE' });
                announce('The video was deleted.');
                navigate('gallery');
              } catch (err) {
                setDeleteError(err);
              }
            }}
          >
            Delete
          </button>
        </div>
      </Dialog>
    </Page>
  );
}
