import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Command } from 'commander';
import { SseParser } from '../events/sse-parser.js';
import { call, GatewayError, remote } from './http.js';

interface VideoJson {
  id: string;
  status: string;
  progress: number;
  error: { code: string; message: string } | null;
}

const MIME: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp' };

const TERMINAL_EVENTS = new Set(['video.completed', 'video.failed', 'video.cancelled']);
/** Without a byte for this long (the gateway sends heartbeats every 15 s), the stream is given up for polling. */
const STREAM_IDLE_MS = 45_000;

/**
 * Follow the video's event stream (GET /v1/videos/{id}/events) until it ends. Returns true when
 * the terminal event arrived; false when the stream is unavailable or broke (then poll instead).
 */
async function followEvents(base: string, apiKey: string, id: string, onUpdate: (v: Pick<VideoJson, 'status' | 'progress'>) => void): Promise<boolean> {
  const abort = new AbortController();
  let idle: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(() => abort.abort(), STREAM_IDLE_MS);
  };
  try {
    arm();
    const res = await fetch(`${base}/v1/videos/${id}/events`, {
      headers: { authorization: `Bearer ${apiKey}`, accept: 'text/event-stream' },
      signal: abort.signal,
    });
    if (res.status !== 200 || !res.body || !res.headers.get('content-type')?.startsWith('text/event-stream')) {
      await res.body?.cancel().catch(() => undefined);
      return false;
    }
    const parser = new SseParser();
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      arm();
      for (const item of parser.feed(decoder.decode(chunk, { stream: true }))) {
        if (item.kind !== 'message') continue;
        const data = JSON.parse(item.message.data) as { status: string; progress: number };
        onUpdate(data);
        if (TERMINAL_EVENTS.has(item.message.event)) {
          abort.abort();
          return true;
        }
      }
    }
    return false;
  } catch {
    return false;
  } finally {
    clearTimeout(idle);
  }
}

/** A one-line progress bar on a terminal; plain lines when output is redirected. */
function progressReporter(stream: NodeJS.WriteStream) {
  let last = '';
  return {
    update(v: VideoJson) {
      const width = 30;
      const filled = Math.round((v.progress / 100) * width);
      const line = `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${String(v.progress).padStart(3)}%  ${v.status}`;
      if (line === last) return;
      last = line;
      if (stream.isTTY) stream.write(`\r${line}\x1b[K`);
      else stream.write(`${line}\n`);
    },
    done() {
      if (stream.isTTY && last) stream.write('\n');
    },
  };
}

interface GenerateOptions {
  model: string;
  size?: string;
  seconds?: string;
  aspectRatio?: string;
  resolution?: string;
  /** true with --audio, false with --no-audio, undefined without either. */
  audio?: boolean;
  mode?: string;
  negativePrompt?: string;
  seed?: string;
  image?: string;
  lastFrame?: string;
  out?: string;
  url?: string;
}

export function registerGenerateCommand(program: Command): void {
  program
    .command('generate')
    .description('generate a video on a running gateway and save the MP4 (VIDGATE_URL, VIDGATE_API_KEY)')
    .argument('<prompt>', 'what the video shows')
    .option('--model <model>', 'model id', 'sora-2')
    .option('--size <WxH>', 'video size, e.g. 720x1280 or 1280x720')
    .option('--seconds <n>', 'duration in seconds, e.g. 4, 8 or 12')
    .option('--aspect-ratio <ratio>', 'aspect ratio instead of --size, e.g. 16:9, 1:1 or adaptive (GET /v1/models lists each model\'s)')
    .option('--resolution <tier>', 'resolution with --aspect-ratio, e.g. 720p, 1080p or 4k')
    .option('--audio', 'generate an audio track (models that can)')
    .option('--no-audio', 'no audio track (models where it is optional)')
    .option('--mode <mode>', 'model mode, e.g. std or pro (Kling)')
    .option('--negative-prompt <text>', 'what the video should not show (models that take one)')
    .option('--seed <n>', 'seed, to repeat a result (models that take one)')
    .option('--image <file>', 'reference image (jpeg, png or webp) used as the first frame')
    .option('--last-frame <file>', 'image (jpeg, png or webp) the video ends on (models that take one)')
    .option('--out <file>', 'where to save the MP4 (default: <video id>.mp4)')
    .option('--url <url>', 'gateway base URL (default: VIDGATE_URL or http://localhost:8080)')
    .action(async (prompt: string, opts: GenerateOptions) => {
      const { base, apiKey } = remote(opts.url);

      const form = new FormData();
      form.set('prompt', prompt);
      form.set('model', opts.model);
      if (opts.size) form.set('size', opts.size);
      if (opts.seconds) form.set('seconds', opts.seconds);
      if (opts.aspectRatio) form.set('aspect_ratio', opts.aspectRatio);
      if (opts.resolution) form.set('resolution', opts.resolution);
      if (opts.audio !== undefined) form.set('generate_audio', String(opts.audio));
      if (opts.mode) form.set('mode', opts.mode);
      if (opts.negativePrompt) form.set('negative_prompt', opts.negativePrompt);
      if (opts.seed) form.set('seed', opts.seed);
      const image = async (param: string, file: string) => {
        const type = MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
        form.set(param, new Blob([await readFile(file)], { type }), path.basename(file));
      };
      if (opts.image) await image('input_reference', opts.image);
      if (opts.lastFrame) await image('last_frame', opts.lastFrame);
      let video = (await (await call(`${base}/v1/videos`, apiKey, { method: 'POST', body: form })).json()) as VideoJson;
      process.stderr.write(`${video.id}\n`);
      const bar = progressReporter(process.stderr);
      const onInterrupt = () => {
        bar.done();
        process.stderr.write(`Interrupted. The video keeps rendering on the gateway: ${video.id}\n`);
        process.exit(130);
      };
      process.once('SIGINT', onInterrupt);
      bar.update(video);
      // Live progress from the event stream; polling when the stream is unavailable or breaks.
      if (await followEvents(base, apiKey, video.id, (e) => bar.update({ ...video, ...e }))) {
        video = (await (await call(`${base}/v1/videos/${video.id}`, apiKey)).json()) as VideoJson;
      }
      while (video.status !== 'completed' && video.status !== 'failed') {
        await new Promise((r) => setTimeout(r, 400));
        video = (await (await call(`${base}/v1/videos/${video.id}`, apiKey)).json()) as VideoJson;
        bar.update(video);
      }
      bar.done();
      process.off('SIGINT', onInterrupt);
      if (video.status === 'failed') {
        throw new GatewayError(`video ${video.id} failed: ${video.error?.code ?? 'error'}: ${video.error?.message ?? 'no reason given'}`);
      }
      const out = opts.out ?? `${video.id}.mp4`;
      const content = await call(`${base}/v1/videos/${video.id}/content`, apiKey);
      await pipeline(Readable.fromWeb(content.body as WebReadableStream<Uint8Array>), createWriteStream(out));
      console.log(out);
    });
}
