import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ffmpegPath, runTool } from '../src/media/ffmpeg.js';
import { renderSandboxVideo } from '../src/providers/sandbox/render.js';
import { fmt, median } from './lib.js';

/**
 * Sandbox render of a 4 s 720x1280 video (MP4 + thumbnail + spritesheet), wall time, against the
 * cheapest possible baseline measured in the same run: ffmpeg encoding a solid-colour clip of the
 * same size and length with the same x264 settings.
 */
export async function renderBench(opts: { runs: number }): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-render-'));
  try {
    const sandbox: number[] = [];
    const baseline: number[] = [];
    for (let i = 0; i < opts.runs; i++) {
      const out = path.join(dir, `r${i}`);
      const { mkdirSync } = await import('node:fs');
      mkdirSync(out);
      let t = performance.now();
      await renderSandboxVideo({ prompt: `A calico cat playing a piano on stage, take ${i}`, width: 720, height: 1280, seconds: 4 }, out);
      sandbox.push(performance.now() - t);
      t = performance.now();
      await runTool(ffmpegPath(), [
        '-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=0x3366aa:s=720x1280:r=24:d=4',
        '-c:v', 'libx264', '-preset', 'superfast', '-crf', '23', '-threads', '2', '-pix_fmt', 'yuv420p', '-movflags', '+faststart',
        path.join(out, 'baseline.mp4'),
      ]);
      baseline.push(performance.now() - t);
    }
    return [
      `Sandbox render, 4 s 720x1280 with thumbnail and spritesheet, ${opts.runs} runs, wall time:`,
      '',
      '| Render | Median | Runs (ms) |',
      '|---|---:|---|',
      `| vidgate sandbox (video + webp + jpg) | ${fmt(median(sandbox))} ms | ${sandbox.map((v) => fmt(v)).join(', ')} |`,
      `| baseline: ffmpeg solid colour, same size and encoder | ${fmt(median(baseline))} ms | ${baseline.map((v) => fmt(v)).join(', ')} |`,
      '',
      `Ratio sandbox / baseline: ${(median(sandbox) / median(baseline)).toFixed(2)}. Target: at most 1,500 ms.`,
    ].join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
