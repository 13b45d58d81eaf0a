// A ready replica's health, polled for its whole life — a model server's readiness route (which
// asks the model's `is_healthy()`), a custom server's liveness endpoint: failing for
// `stop_traffic_threshold_seconds` takes it out of routing (answering again brings it back), for
// `restart_threshold_seconds` replaces it.
import { LivenessWatch } from '../../domain/custom-server.ts';
import type { HealthThresholds } from '../../domain/custom-server.ts';
import { probeReady } from '../readiness.ts';

export interface LivenessHandlers {
  unready(reason: string): void;
  ready(): void;
  replace(reason: string): void;
}

/** What is polled: `path` at `address`, and what failing it means. */
export interface LivenessTarget {
  address: string;
  path: string;
  health: HealthThresholds;
  /** What failing is, for the reasons: "its liveness endpoint /health has not answered 2xx". */
  failing: string;
}

/** Polls the target every `intervalMs`; returns what stops it. */
export function watchLiveness(
  target: LivenessTarget,
  readyAtMs: number,
  on: LivenessHandlers,
  intervalMs = 1000,
): () => void {
  const { health } = target;
  const watch = new LivenessWatch(health, readyAtMs);
  let probing = false;
  let routed = true;
  let stopped = false;
  const timer = setInterval(() => {
    if (probing || stopped) return;
    probing = true;
    void probeReady(target.address, Math.min(intervalMs * 2, 5000), target.path).then((ok) => {
      probing = false;
      if (stopped) return;
      const verdict = watch.observe(Date.now(), ok);
      const failing = `${target.failing} for`;
      if (verdict === 'replace') {
        stop();
        on.replace(`${failing} ${health.restartS} s: replaced`);
      } else if (verdict === 'out-of-routing' && routed) {
        routed = false;
        on.unready(`${failing} ${health.stopTrafficS} s: taken out of routing`);
      } else if (verdict === 'serving' && !routed && ok) {
        routed = true;
        on.ready();
      }
    });
  }, intervalMs);
  timer.unref();
  const stop = (): void => {
    stopped = true;
    clearInterval(timer);
  };
  return stop;
}
