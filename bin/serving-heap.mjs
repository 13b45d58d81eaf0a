// V8 settings for the processes that serve inference: `plinth up`, `plinth gateway` and the gateway
// workers they fork (`plinth gateway-worker`, started through this same bin). V8's allocation-site
// pretenuring watches how many objects of each allocation site outlive young-generation
// collections and, past a ratio, allocates that site's objects straight in the old generation.
// What it picks depends on timing around start (loading the CLI, a push, the first requests);
// when it picked a site on the gateway's hot path, whose objects die with their request, every
// request left garbage only a full mark-compact reclaims: about half the runs of
// `npm run bench:gateway` fell into that, with twice the gateway's CPU per request (bench/RESULTS.md).
// The flag is set before the CLI is even loaded: decisions made before it would stay frozen.
import { setFlagsFromString } from 'node:v8';

// 'gateway-worker' is src/workers/worker-pool.ts's WORKER_COMMAND.
const SERVING_COMMANDS = new Set(['up', 'gateway', 'gateway-worker']);

/** Turns pretenuring off when `command` (the CLI's first argument) serves. */
export function tuneHeapForServing(command) {
  if (SERVING_COMMANDS.has(command)) setFlagsFromString('--no-allocation-site-pretenuring');
}
