// A ready custom server's liveness, polled: failing for `stop_traffic_threshold_seconds` takes it
// out of routing (answering again brings it back), for `restart_threshold_seconds` replaces it.
import { LivenessWatch } from '../../domain/custom-server.ts';
import type { CustomServer } from '../../domain/custom-server.ts';
import { probeReady } from '../readiness.ts';

export interface LivenessHandlers {
  unready(reason: string): void;
  ready(): void;
  replace(reason: string): void;
}

/** Polls `server`'s liveness endpoint at `address` every `intervalMs`; returns what stops it. */
export function watchLiveness(
  address: string,
  server: CustomServer,
  readyAtMs: number,
  on: LivenessHandlers,
  intervalMs = 1000,
): () => void {
  const watch = new LivenessWatch(server.health, readyAtMs);
  let probing = false;
  let routed = true;
  let stopped = false;
  const timer = setInterval(() => {
    if (probing || stopped || !watch.due(Date.now())) return;
    probing = true;
    void probeReady(address, Math.min(intervalMs * 2, 5000), server.livenessPath).then((ok) => {
      probing = false;
      if (stopped) return;
      const verdict = watch.observe(Date.now(), ok);
      const failing = `its liveness endpoint ${server.livenessPath} has not answered 2xx for`;
      if (verdict === 'replace') {
        stop();
        on.replace(`${failing} ${server.health.restartS} s: replaced`);
      } else if (verdict === 'out-of-routing' && routed) {
        routed = false;
        on.unready(`${failing} ${server.health.stopTrafficS} s: taken out of routing`);
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
