import { createApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';

/** `npm start`: run the gateway until SIGTERM/SIGINT, then shut down gracefully. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  let app;
  try {
    app = await createApp(config, benchClock());
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  app.start();
  await app.server.listen({ port: config.port, host: config.host });
  app.server.log.info({ dataDir: config.dataDir }, 'vidgate is ready');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.server.log.info({ signal }, 'shutting down');
    // Readiness goes 503 at once; the drain itself is app.close() (see App.close).
    app.readiness.drain();
    const force = setTimeout(() => process.exit(1), config.shutdown.delayMs + config.shutdown.graceMs + 20_000);
    force.unref();
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        app.server.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/**
 * VIDGATE_BENCH_CLOCK="<origin epoch ms>:<scale>" runs the gateway's clock `scale` times faster
 * than real time from `origin` on, as a benchmark's fake upstream does (bench/polling.ts).
 * For benchmarks only: never set it on a gateway that serves real traffic.
 */
function benchClock(): { now?: () => number; timeScale?: number } {
  const spec = process.env.VIDGATE_BENCH_CLOCK;
  if (!spec) return {};
  const [origin, scale] = spec.split(':').map(Number);
  if (!Number.isFinite(origin) || !(scale! > 0)) throw new ConfigError('VIDGATE_BENCH_CLOCK must be "<origin epoch ms>:<scale>"');
  console.error(`vidgate: VIDGATE_BENCH_CLOCK is set: the clock runs ${scale}x (benchmarks only)`);
  return { now: () => origin! + (Date.now() - origin!) * scale!, timeScale: scale! };
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
