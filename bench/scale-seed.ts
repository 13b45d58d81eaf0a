// Seeds the scale benchmark's store through the Store interface: N models with two deployments
// each (deployment-1 and deployment-2, production serving deployment-2), all SCALED_TO_ZERO with
// the bundle, config and build of a model really pushed to the same home (its app directory copied
// for each: a replica's user owns its own), so that any of them wakes. The store is opened without
// migrating: the server under test migrated it (it may be an older build).
import { cpSync } from 'node:fs';
import Database from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import { newId } from '../src/domain/ids.ts';
import type { Deployment } from '../src/domain/types.ts';
import { plinthHome } from '../src/home.ts';
import { postgresPool } from '../src/store/postgres/open.ts';
import type { Database as Tables } from '../src/store/schema.ts';
import { sqlStore } from '../src/store/sql-store.ts';
import type { Store } from '../src/store/store.ts';

/** The store at `postgresUrl`, or SQLite in `sqliteFile`, as the server left it. */
export function openSeedStore(postgresUrl: string | null, sqliteFile: string): Store {
  if (postgresUrl) {
    return sqlStore(
      new Kysely<Tables>({ dialect: new PostgresDialect({ pool: postgresPool(postgresUrl) }) }),
    );
  }
  const sqlite = new Database(sqliteFile);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 5000');
  return sqlStore(new Kysely<Tables>({ dialect: new SqliteDialect({ database: sqlite }) }));
}

export interface SeededModel {
  id: string;
  name: string;
  /** deployment-1 (serves nothing) and deployment-2 (production). */
  deployments: [string, string];
}

/** Models `scale-0000` … in batches of one transaction each; answers them in creation order. */
export async function seedModels(
  store: Store,
  homeDir: string,
  count: number,
  source: Deployment,
): Promise<SeededModel[]> {
  const home = plinthHome(homeDir);
  const seeded: SeededModel[] = [];
  const BATCH = 100;
  for (let from = 0; from < count; from += BATCH) {
    await store.transaction(async (tx) => {
      for (let i = from; i < Math.min(count, from + BATCH); i++) {
        const model = await tx.createModel(`scale-${String(i).padStart(4, '0')}`);
        const ids: string[] = [];
        for (const name of ['deployment-1', 'deployment-2']) {
          const id = newId('d');
          cpSync(source.build!.appDir, home.appDir(id), { recursive: true });
          const d = await tx.createDeployment({
            id,
            model_id: model.id,
            name,
            status: 'SCALED_TO_ZERO',
            is_development: false,
            bundle_sha256: source.bundle_sha256,
            config: source.config,
            instance_type_name: source.instance_type_name,
            autoscaling_settings: source.autoscaling_settings,
          });
          await tx.updateDeployment(d.id, {
            build: { ...source.build!, appDir: home.appDir(id) },
            has_served: true,
          });
          ids.push(d.id);
        }
        const production = (await tx.getEnvironment(model.id, 'production'))!;
        await tx.updateEnvironment(production.id, { current_deployment_id: ids[1]! });
        seeded.push({ id: model.id, name: model.name, deployments: [ids[0]!, ids[1]!] });
      }
    });
  }
  return seeded;
}
