/**
 * The shape of a worker's history and of the campaign's final observations, shared by the workers,
 * the checkers and the runner. A history is one JSON object per line.
 *
 * @module
 */

/** What the caller learned: it happened, it did not, or it may have (no answer in time). */
export type Outcome = 'ok' | 'failed' | 'unknown';

/** One operation as a worker saw it, on the monotonic clock shared by processes on one host. */
export interface HistoryEntry {
  /** The worker that ran it, e.g. 'mutex-1'. */
  worker: string;
  op: string;
  /** `performance.timeOrigin + performance.now()` just before the request. */
  start: number;
  /** The same clock once the outcome was known. */
  end: number;
  outcome: Outcome;
  details: Record<string, unknown>;
}

/** The same clock every process uses for histories and faults. */
export function monoNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Parses a history file's text, skipping a torn last line (a worker may be killed mid-write). */
export function parseHistory(text: string): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as HistoryEntry);
    } catch {
      // torn line
    }
  }
  return out;
}

/** One violation found by a checker: which invariant, and the entries that show it. */
export interface Violation {
  recipe: string;
  invariant: string;
  message: string;
  evidence: HistoryEntry[];
}

/** Etcd's state at the end of the run, read directly (not through a worker). */
export interface FinalState {
  mutexCount: number;
  counter: number;
  atomicCounter: number;
  /** Ids under `services/<svc>/`, sorted. */
  registry: string[];
  /** The config prefix as a flat `{ key: value }`. */
  config: Record<string, unknown>;
  /** Jobs left in the queue (visible, delayed or claimed) and in its dead-letter queue. */
  queueSize: number;
  deadLetterSize: number;
  /** The election's leader key (app-relative), or null: what every observer must end up showing. */
  electionLeader: string | null;
  /** The store's revision when this was read (followers must not report a later one). */
  revision: string;
  /** Keys under the lock/election/once holder prefixes (`HOLDER_PREFIXES`), with their lease in hex. */
  holders: Array<{ key: string; leaseId: string }>;
  /** After convergence: whether each lock/election name could be taken within one TTL (+1 s). */
  probes?: Array<{ name: string; ok: boolean; ms: number; error?: string }>;
}

/** The result of one checker. */
export interface CheckResult {
  recipe: string;
  operations: number;
  violations: Violation[];
  /** Counts a reader of the report wants (acks, unknowns…). */
  stats: Record<string, number>;
  /** Noteworthy behaviour that is not a violation (e.g. a write of unknown outcome applied late). */
  notes?: string[];
}

/** Entries with this `op` describe a worker's state at the end, not an operation. */
export const FINAL_OP = 'final';

/** The last `final` entry of each worker, for readers that report their converged state. */
export function lastFinals(entries: readonly HistoryEntry[]): Map<string, HistoryEntry> {
  const out = new Map<string, HistoryEntry>();
  for (const e of entries) if (e.op === FINAL_OP) out.set(e.worker, e);
  return out;
}

/** Operation entries only (finals and markers excluded). */
export function operations(entries: readonly HistoryEntry[]): HistoryEntry[] {
  return entries.filter((e) => e.op !== FINAL_OP);
}
