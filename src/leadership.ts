// Leading or following on a shared PostgreSQL store: the control loops run on the process that
// holds the leader lock; every process hears the others' changes (LISTEN/NOTIFY) and, while it
// follows, routes to the replicas the store lists as ready. A process that loses the lock exits
// rather than risk two leaders.
import type { Authenticator } from './api/auth.ts';
import type { DeploymentStatus } from './domain/deployment-status.ts';
import type { ConcurrencyReports } from './gateway/concurrency-reports.ts';
import type { Gateway } from './gateway/gateway.ts';
import { RouteFeed } from './gateway/route-feed.ts';
import type { RouteSource } from './gateway/route-feed.ts';
import { ChangeFeed } from './store/postgres/change-feed.ts';
import { LeaderLock } from './store/postgres/leader-lock.ts';
import type { StatusRecorder } from './store/status-recorder.ts';

export interface LeadershipDeps {
  /** The store's postgres:// URL (the lock and the change feed use their own connections). */
  url: string;
  store: RouteSource;
  gateway: Gateway;
  status: StatusRecorder;
  auth: Authenticator;
  reports: ConcurrencyReports;
  /** Starts the control loops in this process. */
  lead: () => Promise<void>;
  /** Asks the control loops for a pass now. */
  kick: () => void;
}

export interface Leadership {
  /** For the start-up lines. */
  description: string;
  close(): Promise<void>;
}

/** Leads at once when the lock is free; else follows, and leads when the leader goes. */
export async function followLeader(deps: LeadershipDeps): Promise<Leadership> {
  let leading = false;
  const changes = new ChangeFeed(deps.url);
  const routes = new RouteFeed(deps.store, deps.gateway, {
    replicas: true,
    onDeployment: (d, from) => deps.status.announce(d, from as DeploymentStatus),
    onKeys: (revoked) => (revoked ? deps.auth.forgetCached() : deps.auth.expireCached()),
  });
  const leader = new LeaderLock(deps.url);
  await changes.start();
  changes.on((topic) => {
    // Another process changed what should run (a push, a wake, a setting): act on it now.
    if (leading && (topic === 'deployments' || topic === '*')) deps.kick();
  });
  await routes.start((listener) => changes.on(listener));
  deps.reports.start();
  const lead = async (): Promise<void> => {
    leading = true;
    // From now on the runtime backend gives the replica routes.
    routes.stopRoutingReplicas();
    await deps.lead();
  };
  const onLost = (reason: string): void => {
    console.error(`Lost the control-plane lock (${reason}); stopping so that another control plane leads`);
    process.exit(1);
  };
  const first = await leader.tryAcquire(onLost);
  if (first) await lead();
  else {
    void leader.acquire(onLost).then(
      async () => {
        await lead();
        console.log('Leading the control plane now (reconciler, autoscaler, builder, promotions)');
      },
      () => undefined,
    );
  }
  return {
    description: first
      ? 'Control plane: leading (PostgreSQL store; others on it follow)'
      : 'Control plane: following — another process leads; this one serves the API and gateway and takes over when it stops',
    async close() {
      routes.stop();
      await deps.reports.stop();
      await changes.close();
      await leader.close();
    },
  };
}
