// Holds a slot for a fixed time and does no work, so an autoscaling benchmark measures the
// scaling, not the CPU.
export class Model {
  async predict(input: { ms?: number }): Promise<{ slept_ms: number }> {
    const ms = typeof input?.ms === 'number' ? input.ms : 500;
    await new Promise((resolve) => setTimeout(resolve, ms));
    return { slept_ms: ms };
  }
}
