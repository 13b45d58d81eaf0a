// The operation plan of a chaos run: a pure function of the seed, the store kind and the length
// of the run. Which planned operation finds its precondition true, and when exactly each one
// runs, depend on timing and are not (the op log records both).
import { makeRng } from './rng.ts';
import type { Rng } from './rng.ts';

export type StoreKind = 'sqlite' | 'postgres';

export type OpKind =
  | 'push'
  | 'promote'
  | 'promote-gradual'
  | 'cancel-promotion'
  | 'steer-promotion'
  | 'autoscaling'
  | 'instance-type'
  | 'toggle-active'
  | 'kill-replica'
  | 'stop-replica'
  | 'kill-server'
  | 'disk-full'
  | 'kill-leader'
  | 'store-outage';

export interface PlannedOp {
  index: number;
  /** When it is due, from the start of the load. */
  atMs: number;
  kind: OpKind;
  /** Which of the world's models it acts on (an index). */
  model: number;
  /** Chooses among the candidates found when it runs (a deployment, a replica): in [0, 1). */
  pick: number;
  /** A small integer that selects the operation's flavour (push --promote, autoscaling bounds…). */
  variant: number;
  /** How long a fault lasts (a SIGSTOP, an outage, a full disk, a server's downtime). */
  durationMs: number;
}

const COMMON: Partial<Record<OpKind, number>> = {
  push: 3,
  promote: 2,
  'promote-gradual': 2,
  'cancel-promotion': 1,
  'steer-promotion': 1,
  autoscaling: 2,
  'instance-type': 1,
  'toggle-active': 1,
  'kill-replica': 2,
  'stop-replica': 1,
};

export const WEIGHTS: Record<StoreKind, Partial<Record<OpKind, number>>> = {
  sqlite: { ...COMMON, 'kill-server': 1, 'disk-full': 1 },
  postgres: { ...COMMON, 'kill-leader': 1, 'store-outage': 2 },
};

/** The kinds a world of this store may plan, in a fixed order (for summaries). */
export function kindsOf(store: StoreKind): OpKind[] {
  return Object.keys(WEIGHTS[store]) as OpKind[];
}

function durationOf(kind: OpKind, rng: Rng): number {
  if (kind === 'stop-replica') return rng.between(1000, 2000);
  if (kind === 'store-outage') return rng.between(2000, 5000);
  if (kind === 'disk-full') return rng.between(3000, 5000);
  if (kind === 'kill-server') return rng.between(200, 1500);
  return 0;
}

/**
 * Operations due every 2–5 s over `durationMs`. A gradual promotion (a ramp or a rolling deploy)
 * is often followed by an attempt to cancel or steer it (pause and resume, force-cancel,
 * force-roll-forward), so that acting on one in progress is tried, not only planned.
 */
export function planOperations(seed: number, store: StoreKind, durationMs: number, models = 2): PlannedOp[] {
  const rng = makeRng(seed);
  const ops: PlannedOp[] = [];
  let atMs = rng.between(2000, 4000);
  while (atMs < durationMs) {
    const previous = ops.at(-1)?.kind;
    const kind: OpKind =
      previous === 'promote-gradual' && rng.chance(0.6)
        ? rng.chance(0.5)
          ? 'cancel-promotion'
          : 'steer-promotion'
        : rng.weighted(WEIGHTS[store]);
    ops.push({
      index: ops.length,
      atMs,
      kind,
      model: rng.int(models),
      pick: rng.next(),
      variant: rng.int(6),
      durationMs: durationOf(kind, rng),
    });
    atMs += rng.between(2000, 5000);
  }
  return ops;
}
