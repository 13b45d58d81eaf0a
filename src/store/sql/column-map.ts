// One map per table between a domain record's fields and the table's columns, used both ways: a
// record (or a partial one, a patch) becomes the columns to write, a row becomes the record. Pure.
// Columns are portable on purpose (see schema.ts): JSON as text, booleans as 0/1, numbers that
// PostgreSQL may hand back as strings read with Number().

/** How one field is stored: its column, and how its value is written and read. */
export interface Column<V> {
  column: string;
  write(value: V): unknown;
  read(stored: unknown): V;
}

/** Stored as it is. */
export function same<V>(column: string): Column<V> {
  return { column, write: (v) => v, read: (s) => s as V };
}

/** Fields stored as they are, each in the column of its own name. */
export function plain<K extends string>(...names: K[]): Record<K, Column<never>> {
  return Object.fromEntries(names.map((name) => [name, same(name)])) as Record<K, Column<never>>;
}

/** A number (integers that come back as strings or bigints are read as numbers). */
export function num(column: string): Column<number> {
  return { column, write: (v) => v, read: (s) => Number(s) };
}

/** A number, or null for null. */
export function nullableNum(column: string): Column<number | null> {
  return { column, write: (v) => v, read: (s) => (s === null || s === undefined ? null : Number(s)) };
}

/** A boolean as 0/1. */
export function flag(column: string): Column<boolean> {
  return { column, write: (v) => (v ? 1 : 0), read: (s) => Boolean(Number(s)) };
}

/** A value as JSON text; `fill` completes what an older row did not store. */
export function json<V>(column: string, fill?: (stored: V) => V): Column<V> {
  return {
    column,
    write: (v) => JSON.stringify(v),
    read: (s) => {
      const parsed = JSON.parse(String(s)) as V;
      return fill ? fill(parsed) : parsed;
    },
  };
}

/** JSON text, or null for null. */
export function nullableJson<V>(column: string): Column<V | null> {
  return {
    column,
    write: (v) => (v === null ? null : JSON.stringify(v)),
    read: (s) => (s === null || s === undefined ? null : (JSON.parse(String(s)) as V)),
  };
}

export type Columns<R> = { [K in keyof R]-?: Column<R[K]> };

/** `R` the record, `T` the table's row as Kysely types it. */
export interface ColumnMap<R, T> {
  /** The row a whole record is written as. */
  toRow(record: R): T;
  /** The columns a partial record (a patch) writes; fields left undefined are not written. */
  toPatch(record: Partial<R>): Partial<T>;
  /** The record a row holds. */
  fromRow(row: object): R;
}

export function columnMap<R, T>(columns: Columns<R>): ColumnMap<R, T> {
  const fields = Object.entries(columns) as [keyof R & string, Column<unknown>][];
  const toPatch = (record: Partial<R>): Partial<T> => {
    const row: Record<string, unknown> = {};
    for (const [field, c] of fields) {
      const value = record[field];
      if (value !== undefined) row[c.column] = c.write(value);
    }
    return row as Partial<T>;
  };
  return {
    toRow: (record) => toPatch(record) as T,
    toPatch,
    fromRow(row) {
      const stored = row as Record<string, unknown>;
      const record: Record<string, unknown> = {};
      for (const [field, c] of fields) record[field] = c.read(stored[c.column]);
      return record as R;
    },
  };
}
