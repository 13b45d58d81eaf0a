// A control loop: runs one pass now and then every `intervalMs`, never two at once (a kick during
// a pass asks for one more after it). A pass that fails — an unreachable store, a full disk — is
// logged and the loop backs off (doubling, up to a cap) and tries again; it never becomes an
// unhandled rejection that ends the process. `LoopHealth` counts failures for the metrics and tells
// how long each pass took (for `plinth_control_loop_seconds`: how a pass grows with the platform).
import { systemClock } from './clock.ts';
import type { Clock } from './clock.ts';

/** What the loops report, for `plinth_control_loop_*` metrics and the logs. */
export class LoopHealth {
  readonly failures = new Map<string, number>();
  /** Failed passes in a row, per loop (0 once it works again). */
  readonly failing = new Map<string, number>();

  failed(loop: string): number {
    this.failures.set(loop, (this.failures.get(loop) ?? 0) + 1);
    const inRow = (this.failing.get(loop) ?? 0) + 1;
    this.failing.set(loop, inRow);
    return inRow;
  }

  private readonly passListeners = new Set<(loop: string, seconds: number) => void>();

  /** Hears how long each pass of each loop took, failed ones too; answers the unsubscribe function. */
  onPass(listener: (loop: string, seconds: number) => void): () => void {
    this.passListeners.add(listener);
    return () => this.passListeners.delete(listener);
  }

  /** A pass of `loop` took `seconds` (wall time: what it waited for counts). */
  timed(loop: string, seconds: number): void {
    for (const listener of this.passListeners) listener(loop, seconds);
  }

  /** The failures in a row before this success (0 when it was not failing). */
  succeeded(loop: string): number {
    const before = this.failing.get(loop) ?? 0;
    this.failing.set(loop, 0);
    return before;
  }
}

export interface ControlLoopOptions {
  /** Names the loop in logs and metrics (`reconciler`, `autoscaler`, …). */
  name: string;
  intervalMs: number;
  clock?: Clock;
  health?: LoopHealth;
  /** The longest wait between tries while failing (default 30 s). */
  maxBackoffMs?: number;
  /** Where failures are told (default: stderr). */
  log?: (line: string) => void;
}

export class ControlLoop {
  private readonly clock: Clock;
  private readonly health: LoopHealth;
  private running: Promise<void> | null = null;
  private again = false;
  private started = false;
  private cancelTimer: () => void = () => {};

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly options: ControlLoopOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.health = options.health ?? new LoopHealth();
  }

  /** Runs a pass now, and keeps running them. */
  start(): void {
    if (this.started) return;
    this.started = true;
    void this.kick();
  }

  /** Asks for a pass soon; resolves once it has run (its failure is handled, never thrown). */
  kick(): Promise<void> {
    if (!this.started) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.cancelTimer();
    this.running = this.runPasses().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** Stops scheduling passes and waits for the one under way. */
  async stop(): Promise<void> {
    this.started = false;
    this.cancelTimer();
    await this.running;
  }

  private async runPasses(): Promise<void> {
    let waitMs = this.options.intervalMs;
    do {
      this.again = false;
      waitMs = await this.runOne();
    } while (this.again && this.started);
    if (this.started) this.cancelTimer = this.clock.after(waitMs, () => void this.kick());
  }

  /** One pass; answers how long to wait before the next. */
  private async runOne(): Promise<number> {
    const { name, intervalMs } = this.options;
    const log = this.options.log ?? ((line: string) => console.error(line));
    const startedMs = performance.now();
    try {
      await this.pass();
      this.health.timed(name, (performance.now() - startedMs) / 1000);
      const failedBefore = this.health.succeeded(name);
      if (failedBefore > 0) log(`${name}: works again after ${failedBefore} failed pass(es)`);
      return intervalMs;
    } catch (err) {
      this.health.timed(name, (performance.now() - startedMs) / 1000);
      const inRow = this.health.failed(name);
      const backoffMs = Math.min(intervalMs * 2 ** (inRow - 1), this.options.maxBackoffMs ?? 30_000);
      // The first failure and then every tenth are told; the metric counts every one.
      if (inRow === 1 || inRow % 10 === 0) {
        log(
          `${name}: a pass failed (${inRow} in a row): ${(err as Error).message ?? String(err)}; next try in ${Math.round(backoffMs / 100) / 10} s`,
        );
      }
      return backoffMs;
    }
  }
}
