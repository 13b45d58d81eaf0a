// V8 settings for a process that serves inference: `plinth up`, `plinth gateway` and the gateway
// workers they fork. V8's allocation-site pretenuring watches how many objects of each allocation
// site outlive young-generation collections and, past a ratio, allocates that site's objects
// straight in the old generation. What it picks depends on timing around start (a push, a build,
// the first requests); when it picks a site on the gateway's hot path, whose objects die with
// their request, every request then leaves garbage that only a full mark-compact reclaims. About
// half the runs of `npm run bench:gateway` fell into that, with twice the gateway's CPU per
// request and a p99 four times as long; with pretenuring off every run is the fast one
// (bench/RESULTS.md). V8 reads the flag at each collection, so setting it at start is enough.
import { setFlagsFromString } from 'node:v8';

export const SERVING_V8_FLAGS = ['--no-allocation-site-pretenuring'] as const;

/** Sets SERVING_V8_FLAGS for this process; call before it serves. */
export function tuneHeapForServing(): void {
  for (const flag of SERVING_V8_FLAGS) setFlagsFromString(flag);
}
