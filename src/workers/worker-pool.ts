// The primary's side of `--gateway-workers N`: forks N−1 worker processes of this same command,
// hands each the listening server's handle once its gateway is ready (every process then accepts
// from the one socket; the kernel picks), starts again with backoff a worker that exits unexpectedly,
// stops them gracefully, and asks them for their metrics. It never routes a request itself: each
// worker is a whole gateway on the shared store.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import type { Server } from 'node:net';
import { sumMetrics } from '../observability/merged-metrics.ts';
import type { MetricsJson, ProcessMetrics } from '../observability/merged-metrics.ts';
import { isWorkerMessage } from './messages.ts';
import type { PrimaryMessage, ServeMessage, WorkerMessage } from './messages.ts';
import { failuresInRow, restartDelayMs } from './restart-backoff.ts';

/** The hidden CLI command a worker runs (src/cli/commands/gateway.ts). */
export const WORKER_COMMAND = 'gateway-worker';
/** How long a stopping gateway process (a worker, or a primary with workers) lets its requests finish. */
export const WORKER_DRAIN_MS = 30_000;
/** How long a worker may take to answer for its metrics before a scrape goes on without them. */
const METRICS_ANSWER_MS = 2000;
/** How long a worker may take to start serving (connect to the store, read the routes). */
const START_MS = 60_000;

export interface WorkerPoolOptions {
  /** The listening server whose socket the workers accept from too. */
  server: Server;
  /** Processes serving the port, this one included (≥ 2). */
  processes: number;
  /** What each worker is told to serve (its slot is added). */
  serve: Omit<ServeMessage, 'type' | 'slot'>;
  /** This process's own registry, as JSON (for a scrape that lands on a worker). */
  ownMetrics: () => Promise<MetricsJson>;
  /** How long a stopping worker may take to finish its requests before it is killed. */
  stopGraceMs: number;
  /** The module and arguments that start a worker (default: this CLI, `gateway-worker`). */
  command?: { modulePath: string; args: string[] };
  log?: (line: string) => void;
}

interface Slot {
  index: number;
  child: ChildProcess | null;
  ready: boolean;
  /** When it last began to serve (its run counts as healthy from there, not from its fork). */
  readyAtMs: number;
  /** Its last answer for its metrics: used when it is slow to answer, kept when it exits. */
  last: MetricsJson | null;
  failures: number;
  restart: NodeJS.Timeout | null;
}

export class WorkerPool {
  private readonly slots: Slot[];
  private readonly pending = new Map<
    number,
    { child: ChildProcess; done: (m: MetricsJson | null) => void }
  >();
  private nextId = 0;
  private stopping = false;
  private readonly log: (line: string) => void;

  constructor(private readonly options: WorkerPoolOptions) {
    this.log = options.log ?? ((line) => console.error(line));
    this.slots = Array.from({ length: options.processes - 1 }, (_, i) => ({
      index: i + 1,
      child: null,
      ready: false,
      readyAtMs: 0,
      last: null,
      failures: 0,
      restart: null,
    }));
  }

  /** Starts every worker and resolves once all serve; if one cannot, stops the others and throws. */
  async start(): Promise<void> {
    try {
      await Promise.all(this.slots.map((slot) => this.spawn(slot)));
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** The pids of the workers running now (tests and benchmarks read their CPU). */
  pids(): number[] {
    return this.slots.flatMap((s) => (s.child?.pid ? [s.child.pid] : []));
  }

  /**
   * The workers' registries (except `exceptSlot`'s). A worker slow to answer counts with its last
   * answer, and what exited workers had counted stays in (`exited`), so that counters and
   * histograms summed over the processes never go back (Prometheus would read a reset).
   */
  async workerMetrics(exceptSlot = 0): Promise<ProcessMetrics[]> {
    const answers = await Promise.all(
      this.slots
        .filter((s) => s.index !== exceptSlot)
        .map(async (s) => {
          if (s.ready && s.child?.connected) s.last = (await this.ask(s.child)) ?? s.last;
          return { process: `worker-${s.index}`, metrics: s.last };
        }),
    );
    const out = answers.flatMap((a) => (a.metrics ? [{ process: a.process, metrics: a.metrics }] : []));
    if (this.exitedCounts.length > 0) out.push({ process: 'exited', metrics: this.exitedCounts });
    return out;
  }

  /** Counters and histograms of workers that exited, summed (gauges went with them). */
  private exitedCounts: MetricsJson = [];

  private retire(metrics: MetricsJson): void {
    const counts = metrics.filter((m) => String(m.type) === 'counter' || String(m.type) === 'histogram');
    this.exitedCounts = sumMetrics([this.exitedCounts, counts]);
  }

  /** Asks every worker to finish its requests and exit; one that takes too long is killed. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.slots.map(async (slot) => {
        if (slot.restart) clearTimeout(slot.restart);
        slot.restart = null;
        const child = slot.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child.once('exit', r));
        this.send(child, { type: 'stop' });
        const kill = setTimeout(() => child.kill('SIGKILL'), this.options.stopGraceMs + 5000);
        await exited;
        clearTimeout(kill);
      }),
    );
  }

  private spawn(slot: Slot): Promise<void> {
    const { modulePath, args } = this.options.command ?? {
      modulePath: process.argv[1]!,
      args: [WORKER_COMMAND],
    };
    const child = fork(modulePath, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    slot.child = child;
    slot.ready = false;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => {
        settle(new Error(`gateway worker ${slot.index} did not start within ${START_MS / 1000} s`));
        child.kill('SIGKILL');
      }, START_MS);
      child.on('message', (message: unknown) => {
        if (!isWorkerMessage(message)) return;
        if (message.type === 'ready') {
          slot.ready = true;
          slot.readyAtMs = Date.now();
          // From here on the worker accepts connections on the shared socket too.
          child.send({ type: 'socket' } satisfies PrimaryMessage, this.options.server, (err) => {
            if (err)
              settle(
                new Error(`gateway worker ${slot.index}: the socket was not handed over (${err.message})`),
              );
            else settle();
          });
        } else if (message.type === 'failed') {
          settle(new Error(`gateway worker ${slot.index} did not start: ${message.message}`));
        } else this.answer(slot, child, message);
      });
      child.on('error', (err) => this.log(`gateway worker ${slot.index}: ${err.message}`));
      child.once('exit', (code, signal) => {
        settle(
          new Error(`gateway worker ${slot.index} exited (${signal ?? `code ${code}`}) before it served`),
        );
        this.exited(slot, child, code, signal);
      });
      this.send(child, { type: 'serve', slot: slot.index, ...this.options.serve });
    });
  }

  private answer(slot: Slot, child: ChildProcess, message: WorkerMessage): void {
    if (message.type === 'metrics') {
      const waiting = this.pending.get(message.id);
      this.pending.delete(message.id);
      waiting?.done(message.metrics);
    } else if (message.type === 'metrics-gather') {
      // What that scrape shows of this worker, later ones show at least.
      if (Array.isArray(message.own)) slot.last = message.own;
      void (async () => {
        const processes = [
          { process: 'primary', metrics: await this.options.ownMetrics() },
          ...(await this.workerMetrics(slot.index)),
        ];
        this.send(child, { type: 'metrics-gathered', id: message.id, processes });
      })().catch((err: Error) => this.log(`gateway worker ${slot.index}: metrics: ${err.message}`));
    }
  }

  private ask(child: ChildProcess): Promise<MetricsJson | null> {
    const id = ++this.nextId;
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(null), METRICS_ANSWER_MS);
      const done = (metrics: MetricsJson | null): void => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(metrics);
      };
      this.pending.set(id, { child, done });
      this.send(child, { type: 'metrics-ask', id });
    });
  }

  private exited(slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.child !== child) return;
    // A run counts from when it served: one that never did (killed at its start timeout) is a failure.
    const servedMs = slot.ready ? Date.now() - slot.readyAtMs : 0;
    slot.child = null;
    slot.ready = false;
    for (const waiting of this.pending.values()) if (waiting.child === child) waiting.done(null);
    if (slot.last) this.retire(slot.last);
    slot.last = null;
    if (this.stopping) return;
    slot.failures = failuresInRow(slot.failures, servedMs);
    const delayMs = restartDelayMs(slot.failures);
    this.log(
      `gateway worker ${slot.index} (pid ${child.pid}) exited (${signal ?? `code ${code}`}); starting it again in ${delayMs / 1000} s`,
    );
    slot.restart = setTimeout(() => {
      slot.restart = null;
      this.spawn(slot).then(
        () => this.log(`gateway worker ${slot.index} (pid ${slot.child?.pid}) serves again`),
        (err: Error) => {
          if (!this.stopping) this.log(err.message);
        },
      );
    }, delayMs);
  }

  private send(child: ChildProcess, message: PrimaryMessage): void {
    if (!child.connected) return;
    // A worker that exits meanwhile closes the channel: what was not sent is moot.
    child.send(message, (err) => void err);
  }
}
