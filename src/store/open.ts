// Which store a server uses: SQLite in the Plinth home by default, PostgreSQL when given a
// postgres:// URL (`plinth up --store …` or $PLINTH_STORE).
import { openPostgresStore } from './postgres/open.ts';
import { openSqliteStore } from './sqlite/open.ts';
import type { Store } from './store.ts';

export type StoreKind = 'sqlite' | 'postgres';

/** The kind of store a `--store` value names, or null when it names none. */
export function storeKind(url: string | undefined): StoreKind | null {
  if (url === undefined || url === '' || url === 'sqlite') return 'sqlite';
  if (/^postgres(ql)?:\/\/./.test(url)) return 'postgres';
  return null;
}

export async function openStore(url: string | undefined, sqliteFile: string): Promise<Store> {
  const kind = storeKind(url);
  if (kind === null) throw new Error(`store "${url}": expected a postgres:// URL, or none for SQLite`);
  return kind === 'postgres' ? openPostgresStore(url!) : openSqliteStore(sqliteFile);
}
