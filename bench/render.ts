import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ffmpegPath, runTool } from '../src/media/ffmpeg.js';
import { frameFor, x264Preset } from '../src/providers/sandbox/frame.js';
import { renderSandboxVideo } from '../src/providers/sandbox/render.js';
import { fmt, median } from './lib.js';

interface Case {
  label: string;
  width: number;
  height: number;
  seconds: number;
  audio: boolean;
  runs: number;
}

/** CPU seconds used by this process's finished children (Linux /proc; 0 elsewhere). */
function childCpuSeconds(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // cutime and cstime, fields 16 and 17 of stat(5), in clock ticks (100 per second on Linux).
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return 0;
  }
}

async function timed(run: () => Promise<unknown>): Promise<{ ms: number; cpu: number }> {
  const [t, cpu] = [performance.now(), childCpuSeconds()];
  await run();
  return { ms: performance.now() - t, cpu: childCpuSeconds() - cpu };
}

/** The cheapest encode of the same video: a solid colour (and a sine tone), same size, frames and x264 settings. */
function baseline(c: Case, out: string): Promise<unknown> {
  const frame = frameFor(c.width, c.height, c.seconds);
  const seconds = frame.frames / frame.fps;
  return runTool(ffmpegPath(), [
    '-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-threads', '2',
    '-f', 'lavfi', '-i', `color=c=0x3366aa:s=${c.width}x${c.height}:r=${frame.fps}:d=${seconds}`,
    ...(c.audio ? ['-f', 'lavfi', '-i', `sine=f=440:r=48000:d=${seconds}`, '-c:a', 'aac', '-b:a', '96k'] : []),
    '-c:v', 'libx264', '-preset', x264Preset(frame), '-crf', '23', '-threads', '2', '-pix_fmt', 'yuv420p', '-movflags', '+faststart',
    out,
  ]);
}

/**
 * Sandbox renders (MP4 + thumbnail + spritesheet) of a 4 s 720x1280 video, an 8 s 1080p video with
 * its soundtrack and a 4 s 4k video, wall time and ffmpeg CPU time, against the cheapest possible
 * baseline measured in the same run: ffmpeg encoding a solid-colour clip of the same size and
 * length with the same x264 settings.
 */
export async function renderBench(opts: { runs: number }): Promise<string> {
  const heavyRuns = Math.max(1, Math.ceil(opts.runs / 2));
  const cases: Case[] = [
    { label: '720x1280, 4 s', width: 720, height: 1280, seconds: 4, audio: false, runs: opts.runs },
    { label: '1920x1080, 8 s, audio', width: 1920, height: 1080, seconds: 8, audio: true, runs: heavyRuns },
    { label: '3840x2160, 4 s (12 fps)', width: 3840, height: 2160, seconds: 4, audio: false, runs: heavyRuns },
  ];
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-render-'));
  const rows: string[] = [];
  try {
    for (const c of cases) {
      const sandbox: { ms: number; cpu: number }[] = [];
      const base: { ms: number; cpu: number }[] = [];
      for (let i = 0; i < c.runs; i++) {
        const out = path.join(dir, `${c.width}x${c.height}-${i}`);
        mkdirSync(out);
        const prompt = `A calico cat playing a piano on stage, take ${i}`;
        sandbox.push(await timed(() => renderSandboxVideo({ prompt, width: c.width, height: c.height, seconds: c.seconds, audio: c.audio }, out)));
        base.push(await timed(() => baseline(c, path.join(out, 'baseline.mp4'))));
        rmSync(out, { recursive: true, force: true });
      }
      const [ms, cpu] = [median(sandbox.map((r) => r.ms)), median(sandbox.map((r) => r.cpu))];
      const [bms, bcpu] = [median(base.map((r) => r.ms)), median(base.map((r) => r.cpu))];
      rows.push(
        `| ${c.label} | ${fmt(ms)} ms | ${cpu.toFixed(2)} s | ${fmt(bms)} ms | ${bcpu.toFixed(2)} s | ${(ms / bms).toFixed(2)} | ` +
          `${sandbox.map((r) => fmt(r.ms)).join(', ')} |`,
      );
    }
    return [
      `Sandbox renders with thumbnail and spritesheet (${opts.runs} runs of the 720p case, ${heavyRuns} of the others), medians.`,
      'Baseline: ffmpeg encoding a solid-colour clip (plus a sine tone when there is audio) of the same size, frames and x264 settings.',
      '',
      '| Video | Sandbox wall | Sandbox ffmpeg CPU | Baseline wall | Baseline CPU | Ratio (wall) | Sandbox runs (ms) |',
      '|---|---:|---:|---:|---:|---:|---|',
      ...rows,
      '',
      'Target for the 720p case: at most 1,500 ms.',
    ].join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
