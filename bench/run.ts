import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { callbacksBench } from './callbacks.js';
import { comfyuiBench } from './comfyui.js';
import { contentBench } from './content.js';
import { httpBench, observabilityBench } from './http.js';
import { machine } from './lib.js';
import { limitsBench } from './limits.js';
import { nodesBench } from './nodes.js';
import { pushBench } from './push-latency.js';
import { renderBench } from './render.js';
import { scaleBench } from './scale.js';
import { soakBench } from './soak.js';

/**
 * `npm run bench [name…]`: runs the benchmarks (all by default) and prints Markdown for
 * bench/RESULTS.md. Set BENCH_QUICK=1 for a short smoke run.
 */
const quick = process.env.BENCH_QUICK === '1';
const benches: Record<string, () => Promise<string>> = {
  http: () => httpBench({ rounds: quick ? 1 : 5, seconds: quick ? 2 : 8, ...(process.env.BENCH_COMPARE ? { compare: process.env.BENCH_COMPARE } : {}) }),
  observability: () => observabilityBench({ rounds: quick ? 1 : 8, seconds: quick ? 2 : 5 }),
  render: () => renderBench({ runs: quick ? 2 : 7 }),
  content: () =>
    contentBench({
      rounds: Number(process.env.BENCH_ROUNDS) || (quick ? 1 : 5),
      seconds: quick ? 3 : 8,
      ...(process.env.BENCH_COMPARE ? { compare: process.env.BENCH_COMPARE } : {}),
    }),
  comfyui: () => comfyuiBench({ jobs: quick ? 20 : 200, stepMs: 50, inFlight: 4 }),
  callbacks: () => callbacksBench({ tasks: quick ? 100 : 1000, rate: 10, queuedMs: 1000, runMs: 5000 }),
  push: () => pushBench({ tasks: quick ? 100 : 1000, rate: 50, mode: 'direct' }),
  limits: () => limitsBench({ ops: quick ? 500 : 4000 }),
  nodes: () => nodesBench({ rounds: quick ? 1 : 5, seconds: quick ? 2 : 6, connections: 64 }),
  // Not in the default set: it fills a 1,000,000-task store (about a gigabyte) and runs ~10 minutes.
  scale: () =>
    scaleBench(
      quick
        ? { tasks: 20_000, unfinished: 5_000, rate: 200, sample: 1_000, rounds: 1, satRounds: 1, satSeconds: 2, rssSeconds: 15 }
        : { tasks: 1_000_000, unfinished: 100_000, rate: 400, sample: 12_000, rounds: 3, satRounds: 3, satSeconds: 8, rssSeconds: 120 },
    ),
  soak: () => soakBench({ minutes: quick ? 2 : Math.min(30, Math.max(2, Number(process.env.SOAK_MINUTES) || 6)) }),
  // polling.ts is also a command of its own (npm run bench:polling -- --help); here its table.
  polling: async () => {
    const args = quick ? ['--tasks', '100', '--scale', '20', '--min-run-s', '30', '--max-run-s', '120'] : [];
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/polling.ts', ...args], { maxBuffer: 64 * 1024 * 1024 });
    return stdout.split('\n').filter((l) => l.startsWith('|')).join('\n');
  },
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !benches[w]);
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}. Available: ${Object.keys(benches).join(', ')}`);
  process.exit(2);
}
console.log(`## Run of ${new Date().toISOString().slice(0, 10)}\n\nMachine: ${machine()}\n`);
const byDefault = Object.keys(benches).filter((name) => name !== 'scale');
for (const name of wanted.length ? wanted : byDefault) {
  console.log(`### ${name}\n\n${await benches[name]!()}\n`);
}
