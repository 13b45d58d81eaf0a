// The traffic-drop scenario of the autoscaler simulator: a deployment held at its maximum by
// steady load, then the load stops; replicas over time after the drop, with and without
// max_scale_down_rate. Fake time, one policy tick a second; replicas follow the policy at once.
import { decideScale } from '../../src/autoscaler/policy.ts';
import type { ConcurrencySample, PolicyState } from '../../src/autoscaler/policy.ts';
import type { AutoscalingSettings } from '../../src/domain/autoscaling.ts';

/** Seconds of steady load before the drop (long enough for any window to fill). */
const WARM_S = 120;

/** Replicas at each second after the load stops (index 0: the last second of load). */
export function afterDrop(settings: AutoscalingSettings, seconds: number): number[] {
  const perReplica = settings.concurrency_target * (settings.target_utilization_percentage / 100);
  const load = settings.max_replica * perReplica;
  const samples: ConcurrencySample[] = [];
  let state: PolicyState | null = null;
  let current = settings.max_replica;
  const replicas: number[] = [];
  for (let t = 1; t <= WARM_S + seconds; t++) {
    samples.push({ timeMs: t * 1000, concurrency: t <= WARM_S ? load : 0 });
    const d = decideScale({ nowMs: t * 1000, settings, samples, current, previous: state });
    current = d.desired;
    state = d.state;
    if (t >= WARM_S) replicas.push(current);
  }
  return replicas;
}

/** One row per setting: the replicas at each checkpoint (seconds after the drop), and when it reached its floor. */
export function printTrafficDrop(
  rows: { name: string; settings: AutoscalingSettings }[],
  checkpointsS: number[],
): void {
  const last = checkpointsS.at(-1)!;
  console.log(
    `${'replicas after the load stops'.padEnd(50)} | ${checkpointsS.map((s) => `${s} s`.padStart(6)).join(' | ')} | at floor`,
  );
  for (const { name, settings } of rows) {
    const r = afterDrop(settings, last * 2);
    const floor = r.findIndex((n, i) => r.slice(i).every((m) => m === settings.min_replica));
    console.log(
      `${name.padEnd(50)} | ${checkpointsS.map((s) => String(r[s]).padStart(6)).join(' | ')} | ${floor === -1 ? '—' : `${floor} s`}`,
    );
  }
}
