import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * PostgreSQL for tests: the server at 127.0.0.1:5432 as user postgres (trust auth), or
 * VIDGATE_TEST_POSTGRES_URL. Each test file gets its own fresh databases (vidgate_test_<random>),
 * dropped afterwards.
 */
export const POSTGRES_ADMIN_URL = process.env.VIDGATE_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/**
 * Tests that need PostgreSQL skip with this reason when it cannot be reached, except where
 * VIDGATE_REQUIRE_POSTGRES=1 (set by .ci/run, which starts it): there they fail.
 */
export async function postgresMissing(): Promise<string | undefined> {
  try {
    await adminQuery('SELECT 1');
    return undefined;
  } catch (err) {
    const e = err as { message?: string; code?: string; errors?: { message?: string }[] };
    const why = e.message || e.errors?.[0]?.message || e.code || String(err);
    const reason = `PostgreSQL is not reachable at ${POSTGRES_ADMIN_URL.replace(/:[^:@/]*@/, ':***@')} (${why}); start it or set VIDGATE_TEST_POSTGRES_URL`;
    if (process.env.VIDGATE_REQUIRE_POSTGRES === '1') throw new Error(`${reason}; VIDGATE_REQUIRE_POSTGRES=1 forbids skipping`);
    return reason;
  }
}

export interface TestDatabases {
  /** Create a fresh, empty database and return its URL. */
  create(): Promise<string>;
  /** Drop every database this made. */
  dropAll(): Promise<void>;
}

export function testDatabases(): TestDatabases {
  const made: string[] = [];
  return {
    async create() {
      const name = `vidgate_test_${randomBytes(6).toString('hex')}`;
      await adminQuery(`CREATE DATABASE ${name}`);
      made.push(name);
      const url = new URL(POSTGRES_ADMIN_URL);
      url.pathname = `/${name}`;
      return url.toString();
    },
    async dropAll() {
      for (const name of made.splice(0)) await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
