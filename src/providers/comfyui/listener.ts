import WebSocket from 'ws';
import type { ListenContext } from '../types.js';
import { UpstreamError } from '../types.js';
import { asRecord, num, str } from '../parse.js';

/** What the websocket told us of one prompt. */
interface Seen {
  /** Queued by this process under its client id: its events come on our socket. */
  owned: boolean;
  progress?: number;
  /** Progress when it was last poked for. */
  pokedProgress?: number;
  /** `execution_start` came: it runs. */
  started?: boolean;
  /** Execution ended (success, error or interruption); the history entry follows. */
  finishing?: boolean;
  lastPokeAt?: number;
  /** When the socket last said anything of it. */
  lastEventAt?: number;
}

/** Progress pokes of one prompt come at most this often, and only after this much progress (each costs a check). */
const PROGRESS_POKE_MS = 2_000;
const PROGRESS_POKE_POINTS = 10;
/** A silent socket is pinged this often, and dropped when the pong does not come back in time. */
const PING_MS = 30_000;
const MAX_TRACKED = 10_000;
/** The socket's word that a prompt runs is taken for this long without asking the server. */
const FRESH_MS = 10_000;

/**
 * The channel's websocket session with one ComfyUI server (`/ws?clientId=`): ComfyUI sends the
 * events of every prompt queued under a client id to that client's socket (`execution_start`,
 * `execution_cached`, `executing`, `progress`, `executed`, `execution_success` / `execution_error`
 * / `execution_interrupted`, then `executing` with `node: null` once the history entry is
 * written), and `status` to every socket whenever its queue changes. Each of those is a reason to
 * check the prompt now; the check itself reads `/history` and `/queue`, so a lost or reordered
 * message only delays.
 *
 * The session also says how often a prompt still needs to be polled: rarely while the socket is
 * open and the prompt is ours (its events will come), at the ordinary rate otherwise (the socket
 * is down, or the prompt was queued by an earlier process under another client id).
 */
export class ComfySession {
  private readonly seen = new Map<string, Seen>();
  private live = false;
  private poke: (promptId: string) => void = () => {};
  private foreignTimer: NodeJS.Timeout | undefined;
  private foreignAt = 0;

  constructor(readonly clientId: string) {}

  /** Called before the prompt is sent (its events may come before the answer does). */
  track(promptId: string, owned: boolean): void {
    const s = this.seen.get(promptId);
    if (s) {
      s.owned ||= owned;
      return;
    }
    if (this.seen.size >= MAX_TRACKED) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(promptId, { owned });
  }

  forget(promptId: string): void {
    this.seen.delete(promptId);
  }

  progress(promptId: string): number | undefined {
    return this.seen.get(promptId)?.progress;
  }

  /** The socket will report this prompt's end: checks are only a fallback. */
  followed(promptId: string): boolean {
    const s = this.seen.get(promptId);
    return this.live && !!s?.owned && !s.finishing;
  }

  /**
   * The prompt runs, as the open socket said moments ago (`execution_start`, then `progress`):
   * a check need not ask the server. Anything older, or any other state, is asked.
   */
  runningNow(promptId: string): boolean {
    const s = this.seen.get(promptId);
    return this.followed(promptId) && !!s?.started && Date.now() - (s.lastEventAt ?? 0) < FRESH_MS;
  }

  private pokeAll(filter: (s: Seen) => boolean = () => true): void {
    for (const [id, s] of this.seen) if (filter(s)) this.poke(id);
  }

  /** Prompts of an earlier process, at most once a second however often the queue changes. */
  private pokeForeign(): void {
    if (this.foreignTimer) return;
    const wait = Math.max(0, this.foreignAt + 1_000 - Date.now());
    this.foreignTimer = setTimeout(() => {
      this.foreignTimer = undefined;
      this.foreignAt = Date.now();
      this.pokeAll((s) => !s.owned);
    }, wait);
    this.foreignTimer.unref();
  }

  private handle(text: string): void {
    let msg: Record<string, unknown> | undefined;
    try {
      msg = asRecord(JSON.parse(text));
    } catch {
      return;
    }
    const type = str(msg?.type);
    const data = asRecord(msg?.data) ?? {};
    if (type === 'status') {
      // The queue changed (or we just connected): prompts whose events do not come to us may have moved.
      this.pokeForeign();
      return;
    }
    const id = str(data.prompt_id);
    if (!type || !id) return;
    this.track(id, true);
    const s = this.seen.get(id)!;
    const now = Date.now();
    s.lastEventAt = now;
    switch (type) {
      case 'execution_start':
        s.started = true;
        s.lastPokeAt = now;
        this.poke(id);
        return;
      case 'progress': {
        const value = num(data.value);
        const max = num(data.max);
        if (value === undefined || !max || max <= 0) return;
        // Several samplers each count from zero: never show progress going back.
        s.progress = Math.max(s.progress ?? 0, Math.min(99, Math.floor((value / max) * 100)));
        if (now - (s.lastPokeAt ?? 0) >= PROGRESS_POKE_MS && s.progress - (s.pokedProgress ?? 0) >= PROGRESS_POKE_POINTS) {
          s.lastPokeAt = now;
          s.pokedProgress = s.progress;
          this.poke(id);
        }
        return;
      }
      case 'executing':
        if (data.node === null) {
          // Sent once the history entry is written.
          s.finishing = true;
          this.poke(id);
        }
        return;
      case 'execution_success':
      case 'execution_error':
      case 'execution_interrupted': {
        // Sent just before the history entry is written; `executing` with node null follows (some
        // builds skip it): look again shortly either way.
        s.finishing = true;
        const t = setTimeout(() => this.poke(id), 250);
        t.unref();
        return;
      }
      default:
        return;
    }
  }

  /** One websocket connection, until it closes or the channel goes away. */
  async run(ctx: ListenContext): Promise<void> {
    // Delayed pokes may fire after the channel went away (gateway stopping): they are dropped then.
    this.poke = (id) => {
      if (!ctx.signal.aborted) ctx.poke(id);
    };
    const url = new URL(ctx.http.baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/ws`;
    url.search = `?clientId=${encodeURIComponent(this.clientId)}`;
    const headers = await ctx.auth();
    if (ctx.signal.aborted) return;
    await new Promise<void>((resolve, reject) => {
      // No Origin header: ComfyUI refuses a websocket whose Origin differs from its Host.
      const ws = new WebSocket(url, { headers, handshakeTimeout: 10_000, perMessageDeflate: false, maxPayload: 32 * 1024 * 1024 });
      let alive = true;
      let failure: Error | undefined;
      const ping = setInterval(() => {
        if (!alive) {
          ws.terminate();
          return;
        }
        alive = false;
        ws.ping();
      }, PING_MS);
      ping.unref();
      const stop = () => ws.terminate();
      ctx.signal.addEventListener('abort', stop, { once: true });
      ws.on('open', () => {
        this.live = true;
        // Anything may have happened while we were not connected.
        this.pokeAll();
      });
      ws.on('pong', () => (alive = true));
      ws.on('message', (data, isBinary) => {
        alive = true;
        // Binary frames are previews (a 4-byte event type, then an image): not needed.
        if (!isBinary) this.handle(data.toString());
      });
      ws.on('error', (err) => {
        failure = err;
      });
      ws.on('close', () => {
        const wasLive = this.live;
        this.live = false;
        clearInterval(ping);
        ctx.signal.removeEventListener('abort', stop);
        // Back to ordinary polling for every prompt until the socket is back.
        if (wasLive) this.pokeAll();
        if (failure && !wasLive && !ctx.signal.aborted) reject(new UpstreamError('unreachable', `the ComfyUI websocket could not be opened (${failure.message})`));
        else resolve();
      });
    });
  }
}
