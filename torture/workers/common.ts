/**
 * What every torture worker shares: the connection (through the worker's own fault proxies), the
 * history file, and the lifecycle signals the runner sends.
 *
 * - SIGUSR1: quiesce — stop starting mutating operations (consumers keep draining).
 * - SIGUSR2: report — append a `final` entry with the worker's current view (readers only).
 * - SIGTERM: close everything and exit 0.
 *
 * env: TORTURE_ENDPOINTS (comma-separated proxy endpoints), TORTURE_NAMESPACE, TORTURE_HISTORY,
 * TORTURE_WORKER (name), TORTURE_ROLE, TORTURE_SEED, TORTURE_UNGUARDED=1 (negative control),
 * TORTURE_CALLERS (concurrent callers on the one coordinator, default 1), TORTURE_CONTROLS (comma-
 * separated negative controls, see `controls.ts`).
 *
 * @module
 */
import { appendFileSync } from 'node:fs';
import { connect, UnavailableError, type Coordinator } from '../../src/index.js';
import { Prng } from '../prng.js';
import { FINAL_OP, monoNow, type HistoryEntry, type Outcome } from '../history.js';

export interface WorkerEnv {
  readonly coord: Coordinator;
  readonly name: string;
  readonly role: string;
  readonly rng: Prng;
  readonly unguarded: boolean;
  /** How many concurrent callers share this worker's coordinator (issue 14: many callers, one process). */
  readonly callers: number;
  /** Whether the named negative control is on for this run. */
  control(name: string): boolean;
  /** Aborted by SIGUSR1 (quiesce) or SIGTERM. */
  readonly quiesce: AbortSignal;
  /** Aborted by SIGTERM. */
  readonly stopping: AbortSignal;
  /** Runs `fn`, records it with its outcome, and returns its value (undefined unless ok). */
  record<T>(
    op: string,
    details: Record<string, unknown>,
    fn: () => Promise<T>,
    more?: (value: T) => Record<string, unknown>,
  ): Promise<{ outcome: Outcome; value?: T }>;
  /** Appends an entry as is (start = end = now when omitted). */
  append(op: string, outcome: Outcome, details: Record<string, unknown>, start?: number): void;
  /** Called on SIGUSR2: returns the details of the `final` entry. */
  onReport(fn: () => Record<string, unknown>): void;
  /** Called on SIGTERM before the coordinator is closed. */
  onStop(fn: () => Promise<void>): void;
}

function env(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`torture worker: ${name} is not set`);
  return v;
}

/**
 * The outcome of a failed operation: `unknown` when it may have applied (no answer to a write),
 * else `failed`. Reads never change state, so their failures are plain failures.
 */
export function outcomeOf(err: unknown, write: boolean): Outcome {
  if (!write) return 'failed';
  if (err instanceof UnavailableError) return err.mayHaveApplied ? 'unknown' : 'failed';
  const code = (err as { code?: unknown } | null)?.code;
  // Anything else on a write (an unmapped gRPC error) is treated as "may have applied": the bounds
  // get wider, never a false violation.
  return code === 'CONFLICT' || code === 'ABORTED' || code === 'INVALID_ARGUMENT' ? 'failed' : 'unknown';
}

export function describe(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | null;
  return `${String(e?.code ?? e?.name ?? 'Error')}: ${String(e?.message ?? err)}`.slice(0, 200);
}

/** Connects, installs the signal handlers, prints `ready`, and runs `main` until SIGTERM. */
export async function runWorker(main: (w: WorkerEnv) => Promise<void>): Promise<void> {
  const name = env('TORTURE_WORKER');
  const historyFile = env('TORTURE_HISTORY');
  const coord = await connect({
    endpoints: env('TORTURE_ENDPOINTS').split(','),
    namespace: env('TORTURE_NAMESPACE'),
    ttlSeconds: 2,
    requestTimeoutMs: 2_000,
  });
  const quiesce = new AbortController();
  const stopping = new AbortController();
  const reporters: Array<() => Record<string, unknown>> = [];
  const stoppers: Array<() => Promise<void>> = [];
  // Operations started and not yet finished: reported with `final`, so a hang is visible.
  const inflight = new Map<number, { op: string; start: number; details: Record<string, unknown> }>();
  let nextOp = 0;
  const append = (entry: HistoryEntry): void => {
    appendFileSync(historyFile, JSON.stringify(entry) + '\n');
  };
  const w: WorkerEnv = {
    coord,
    name,
    role: process.env['TORTURE_ROLE'] ?? '',
    rng: new Prng(Number(process.env['TORTURE_SEED'] ?? 1) ^ hash(name)),
    unguarded: process.env['TORTURE_UNGUARDED'] === '1',
    callers: Math.max(1, Number(process.env['TORTURE_CALLERS'] ?? 1) || 1),
    control: (c) => (process.env['TORTURE_CONTROLS'] ?? '').split(',').includes(c),
    quiesce: quiesce.signal,
    stopping: stopping.signal,
    async record(op, details, fn, more) {
      const start = monoNow();
      const opId = nextOp++;
      inflight.set(opId, { op, start, details });
      try {
        const value = await fn();
        append({
          worker: name,
          op,
          start,
          end: monoNow(),
          outcome: 'ok',
          details: { ...details, ...more?.(value) },
        });
        return { outcome: 'ok', value };
      } catch (err) {
        const outcome = outcomeOf(err, details['write'] === true);
        append({
          worker: name,
          op,
          start,
          end: monoNow(),
          outcome,
          details: { ...details, error: describe(err) },
        });
        return { outcome };
      } finally {
        inflight.delete(opId);
      }
    },
    append(op, outcome, details, start) {
      const end = monoNow();
      append({ worker: name, op, start: start ?? end, end, outcome, details });
    },
    onReport(fn) {
      reporters.push(fn);
    },
    onStop(fn) {
      stoppers.push(fn);
    },
  };
  process.on('exit', (code) => {
    if (code === 0) return;
    // Exit 13 means an awaited promise can never settle (nothing left to wake it): record which.
    const now = monoNow();
    const hung = [...inflight.values()].map((o) => ({
      op: o.op,
      ageMs: Math.round(now - o.start),
      details: o.details,
    }));
    w.append('exit', 'failed', { code, inflight: hung });
    console.error(`exit ${code} with in flight: ${JSON.stringify(hung)}`);
  });
  process.on('SIGUSR1', () => quiesce.abort());
  process.on('SIGUSR2', () => {
    const now = monoNow();
    const details: Record<string, unknown> = {
      // The ghost-key checker attributes a leftover key to its owner by lease.
      leaseId: coord.session.leaseId.toString(16),
      inflight: [...inflight.values()].map((o) => ({
        op: o.op,
        ageMs: Math.round(now - o.start),
        details: o.details,
      })),
    };
    for (const fn of reporters) Object.assign(details, fn());
    w.append(FINAL_OP, 'ok', details);
  });
  process.once('SIGTERM', () => {
    quiesce.abort();
    stopping.abort();
    const now = monoNow();
    for (const o of inflight.values()) {
      console.error(
        `in flight at SIGTERM: ${o.op} for ${Math.round(now - o.start)} ms ${JSON.stringify(o.details)}`,
      );
    }
    // A close that hangs on an unreachable etcd must not keep the run waiting.
    setTimeout(() => process.exit(0), 8_000).unref();
    void (async () => {
      for (const fn of stoppers) await fn().catch(() => undefined);
      await coord.close().catch(() => undefined);
      process.exit(0);
    })();
  });
  console.log('ready');
  try {
    await main(w);
  } catch (err) {
    w.append('crash', 'failed', { error: describe(err) });
    console.error(err);
  }
  // main returned (quiesced): stay alive for reports until SIGTERM. An abort listener alone does not
  // keep Node running, and the coordinator's own timers are unref'd: hold a timer.
  const keepAlive = setInterval(() => undefined, 60_000);
  await new Promise<void>((resolve) => stopping.signal.addEventListener('abort', () => resolve()));
  clearInterval(keepAlive);
}

/** Sleeps `ms`, resolving early (without throwing) when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
