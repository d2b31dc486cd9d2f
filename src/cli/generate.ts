import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Command } from 'commander';

interface VideoJson {
  id: string;
  status: string;
  progress: number;
  error: { code: string; message: string } | null;
}

const MIME: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp' };

class GatewayError extends Error {}

async function call(url: string, apiKey: string, init: RequestInit = {}): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, headers: { authorization: `Bearer ${apiKey}`, ...(init.headers ?? {}) } });
  } catch (err) {
    throw new GatewayError(`cannot reach the gateway at ${new URL(url).origin}: ${(err as Error).message}. Is it running? (VIDGATE_URL)`);
  }
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    throw new GatewayError(`${res.status} ${body?.error?.message ?? res.statusText}`);
  }
  return res;
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

export function registerGenerateCommand(program: Command): void {
  program
    .command('generate')
    .description('generate a video on a running gateway and save the MP4 (VIDGATE_URL, VIDGATE_API_KEY)')
    .argument('<prompt>', 'what the video shows')
    .option('--model <model>', 'model id', 'sora-2')
    .option('--size <WxH>', 'video size, e.g. 720x1280 or 1280x720')
    .option('--seconds <n>', 'duration in seconds, e.g. 4, 8 or 12')
    .option('--image <file>', 'reference image (jpeg, png or webp) used as the first frame')
    .option('--out <file>', 'where to save the MP4 (default: <video id>.mp4)')
    .option('--url <url>', 'gateway base URL (default: VIDGATE_URL or http://localhost:8080)')
    .action(async (prompt: string, opts: { model: string; size?: string; seconds?: string; image?: string; out?: string; url?: string }) => {
      const base = (opts.url ?? process.env.VIDGATE_URL ?? 'http://localhost:8080').replace(/\/+$/, '').replace(/\/v1$/, '');
      const apiKey = process.env.VIDGATE_API_KEY;
      if (!apiKey) throw new GatewayError('set VIDGATE_API_KEY to an API key (create one with: npx vidgate key create --name me)');

      const form = new FormData();
      form.set('prompt', prompt);
      form.set('model', opts.model);
      if (opts.size) form.set('size', opts.size);
      if (opts.seconds) form.set('seconds', opts.seconds);
      if (opts.image) {
        const type = MIME[path.extname(opts.image).toLowerCase()] ?? 'application/octet-stream';
        form.set('input_reference', new Blob([await readFile(opts.image)], { type }), path.basename(opts.image));
      }
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
