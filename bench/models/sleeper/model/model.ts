// Holds a slot for a fixed time and does no work, so an autoscaling benchmark measures the
// scaling, not the CPU.
import { setTimeout as sleep } from 'node:timers/promises';

export class Model {
  async predict(input: { ms?: number }): Promise<{ slept_ms: number }> {
    const ms = typeof input?.ms === 'number' ? input.ms : 500;
    await sleep(ms);
    return { slept_ms: ms };
  }
}
