import { assertOptionalDuration, assertOptionalSignal, assertOptions } from '../core/validate.js';

/** Options of one counter call. */
export interface CounterCallOptions {
  /**
   * Checked before the request is sent. A write already in flight is *not* cut short by it: it runs to its
   * answer or its deadline, so its outcome is always reported (never "aborted, may or may not have applied").
   */
  signal?: AbortSignal | undefined;
  /** Deadline of the request in ms (at most the coordinator's `requestTimeoutMs`, the default). */
  timeoutMs?: number | undefined;
}

/** Validates the options of a counter call before any request. */
export function checkOptions(opts: CounterCallOptions): void {
  assertOptions(opts, 'opts');
  assertOptionalSignal(opts.signal);
  assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
}
