// A fresh PostgreSQL database per test run, on the server `scripts/postgres-for-tests.sh` starts
// (PLINTH_TEST_POSTGRES_URL, default postgres://plinth:plinth@127.0.0.1:5432/postgres), dropped after.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const TEST_POSTGRES_URL =
  process.env.PLINTH_TEST_POSTGRES_URL ?? 'postgres://plinth:plinth@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `plinth_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${TEST_POSTGRES_URL} (${(err as Error).message}): run scripts/postgres-for-tests.sh, or set PLINTH_TEST_POSTGRES_URL`,
    );
  }
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: TEST_POSTGRES_URL });
      await c.connect();
      try {
        // An autovacuum worker in the database at that moment makes a non-superuser's forced drop
        // fail (42501: its backend is no role's): it is done in a moment, so the drop is tried again.
        for (let attempt = 1; ; attempt++) {
          try {
            await c.query(`drop database if exists ${name} with (force)`);
            return;
          } catch (err) {
            const code = (err as { code?: string }).code;
            if ((code !== '42501' && code !== '55006') || attempt >= 20) throw err;
            await new Promise((r) => setTimeout(r, 250));
          }
        }
      } finally {
        await c.end();
      }
    },
  };
}
