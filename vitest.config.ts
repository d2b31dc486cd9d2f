import { defineConfig } from 'vitest/config';
import type { ViteUserConfig } from 'vitest/config';
import { postgresMissing } from './test/helpers/postgres.js';

/**
 * Integration tests that run twice: on SQLite (project `sqlite`, with every other test) and with
 * every gateway they start on a fresh PostgreSQL database (project `postgres`,
 * VIDGATE_TEST_DATABASE=postgres; test/helpers/gateway.ts). They reach the store only through
 * HTTP and the store interface, so the same assertions hold on both.
 */
const ON_POSTGRES = [
  'test/openai-api.test.ts',
  'test/apimart-api.test.ts',
  'test/billing.test.ts',
  'test/idempotency.test.ts',
  'test/money-bounds.test.ts',
  'test/webhooks.test.ts',
  'test/sse.test.ts',
  'test/admin-keys.test.ts',
  'test/channels/routing.test.ts',
];

export default defineConfig(async (): Promise<ViteUserConfig> => {
  // Without a PostgreSQL server the second run is left out, saying so (postgresMissing throws
  // instead where VIDGATE_REQUIRE_POSTGRES=1, as in CI).
  const missing = await postgresMissing();
  if (missing) console.warn(`\n[vidgate] the integration tests run on SQLite only: ${missing}\n`);
  return {
    test: {
      // Builds the console into web/dist before any test file runs (the gateway serves it at /console/).
      globalSetup: ['test/setup/build-console.ts'],
      testTimeout: 60_000,
      hookTimeout: 60_000,
      pool: 'forks' as const,
      poolOptions: { forks: { maxForks: 2, minForks: 1 } },
      reporters: ['default'],
      projects: [
        { extends: true as const, test: { name: 'sqlite', include: ['test/**/*.test.ts'] } },
        ...(missing ? [] : [{ extends: true as const, test: { name: 'postgres', include: ON_POSTGRES, env: { VIDGATE_TEST_DATABASE: 'postgres' } } }]),
      ],
    },
  };
});
