import { useEffect, useState } from 'preact/hooks';
import type { Status, Video, VideoEvent } from './api.js';
import { api, apiUrl } from './api.js';

const EVENT_TYPES = ['video.created', 'video.queued', 'video.in_progress', 'video.completed', 'video.failed', 'video.cancelled'];
const TERMINAL: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);
const POLL_MS = 2000;

/** The canonical status an event reports (its type says cancelled; OpenAI-style data says failed). */
function statusOf(e: VideoEvent): Status {
  if (e.type === 'video.created') return e.status === 'pending' ? 'queued' : (e.status as Status);
  return e.type.slice('video.'.length) as Status;
}

/** The canonical status of a Video object (a cancelled video reads as failed with error code cancelled). */
export function videoStatus(v: Pick<Video, 'status' | 'error'>): Status {
  if (v.status === 'failed' && v.error?.code === 'cancelled') return 'cancelled';
  if (v.status === 'pending') return 'queued';
  return v.status as Status;
}

export interface StreamState {
  status: Status | null;
  progress: number;
  error: { code: string; message: string } | null;
  events: VideoEvent[];
  /** How the state arrives: the live event stream, or polling when the stream is not available. */
  via: 'connecting' | 'stream' | 'polling';
  done: boolean;
}

/**
 * A video's events, live: a read-only stream token (POST /v1/stream_tokens) opens an
 * EventSource on GET /v1/videos/{id}/events, which replays the history and then follows the
 * video until it ends. When the stream cannot be opened, GET /v1/videos/{id} is polled instead.
 */
export function useVideoStream(id: string | null): StreamState {
  const initial: StreamState = { status: null, progress: 0, error: null, events: [], via: 'connecting', done: false };
  const [state, setState] = useState<StreamState>(initial);
  useEffect(() => {
    setState(initial);
    if (!id) return undefined;
    let stopped = false;
    let source: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;

    const apply = (e: VideoEvent) =>
      setState((s) => {
        if (s.events.some((x) => x.seq === e.seq)) return s;
        const status = statusOf(e);
        return {
          ...s,
          via: 'stream',
          status,
          progress: status === 'completed' ? 100 : e.progress,
          error: e.error ?? (status === 'cancelled' ? { code: 'cancelled', message: 'The video was cancelled.' } : s.error),
          events: [...s.events, e].sort((a, b) => a.seq - b.seq),
          done: TERMINAL.has(status),
        };
      });

    const poll = async () => {
      if (stopped) return;
      try {
        const v = await api<Video>(`v1/videos/${encodeURIComponent(id)}`);
        if (stopped) return;
        const status = videoStatus(v);
        setState((s) => ({ ...s, via: 'polling', status, progress: v.progress, error: v.error, done: TERMINAL.has(status) }));
        if (TERMINAL.has(status)) return;
      } catch {
        // keep trying: the next poll may succeed
      }
      timer = setTimeout(poll, POLL_MS);
    };

    (async () => {
      try {
        const t = await api<{ token: string }>('v1/stream_tokens', { method: 'POST', body: { video_id: id } });
        if (stopped) return;
        const es = new EventSource(apiUrl(`v1/videos/${encodeURIComponent(id)}/events?access_token=${encodeURIComponent(t.token)}`));
        source = es;
        es.onopen = () => setState((s) => ({ ...s, via: 'stream' }));
        for (const type of EVENT_TYPES) {
          es.addEventListener(type, (m: MessageEvent<string>) => {
            const e = JSON.parse(m.data) as VideoEvent;
            apply(e);
            if (TERMINAL.has(statusOf(e))) es.close();
          });
        }
        // EventSource reconnects by itself; once it gives up (or is refused), poll instead.
        es.onerror = () => {
          if (es.readyState === EventSource.CLOSED && !stopped) void poll();
        };
      } catch {
        void poll();
      }
    })();

    return () => {
      stopped = true;
      source?.close();
      clearTimeout(timer);
    };
  }, [id]);
  return state;
}
