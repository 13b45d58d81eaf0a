// A Clock that moves only when the test says: `advance(ms)` runs every timer due by then, in time
// order, and lets the promises they start settle.
import type { Clock } from '../../src/domain/clock.ts';

interface Timer {
  at: number;
  fn: () => void;
  everyMs: number | null;
  id: number;
}

export class FakeClock implements Clock {
  private timers: Timer[] = [];
  private nextId = 0;

  constructor(private nowMs = Date.parse('2026-01-01T00:00:00.000Z')) {}

  now(): number {
    return this.nowMs;
  }

  after(ms: number, fn: () => void): () => void {
    return this.add(ms, fn, null);
  }

  every(ms: number, fn: () => void): () => void {
    return this.add(ms, fn, ms);
  }

  /** Timers not yet fired (or cancelled). */
  get pending(): number {
    return this.timers.length;
  }

  async advance(ms: number): Promise<void> {
    const until = this.nowMs + ms;
    for (;;) {
      // Work already under way (a pass awaiting its store) sets its timers first.
      await new Promise((r) => setImmediate(r));
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const due = this.timers[0];
      if (!due || due.at > until) break;
      this.nowMs = due.at;
      if (due.everyMs === null) this.timers.shift();
      else due.at += due.everyMs;
      due.fn();
      await new Promise((r) => setImmediate(r));
    }
    this.nowMs = until;
    await new Promise((r) => setImmediate(r));
  }

  private add(ms: number, fn: () => void, everyMs: number | null): () => void {
    const timer: Timer = { at: this.nowMs + Math.max(0, ms), fn, everyMs, id: this.nextId++ };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }
}
