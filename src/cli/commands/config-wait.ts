/**
 * `--wait min[:max]` of `config watch` and `config exec`, consul-template's quiescence timers: after a
 * change, act once nothing has changed for `min`, but no later than `max` after the first change that is
 * still pending, so a burst of writes is one render and one reload, and a key written non-stop still is
 * rendered every `max`.
 *
 * @module
 */
import { parseDuration } from '../args.js';
import { UsageError } from '../exit-codes.js';

/** The quiescence timers, in ms. */
export interface WaitSpec {
  minMs: number;
  maxMs: number;
}

/**
 * `500ms:2s` → `{ minMs: 500, maxMs: 2000 }`; `1s` → max is 4 × min, as in consul-template.
 *
 * @example `parseWait('1s', 'config')` → `{ minMs: 1000, maxMs: 4000 }`
 * @throws UsageError naming `--wait` for anything but one or two durations with 0 < min ≤ max
 */
export function parseWait(text: string, command: string): WaitSpec {
  const parts = text.split(':');
  if (parts.length > 2 || parts.some((p) => p === ''))
    throw new UsageError(`--wait: expected <min> or <min>:<max> (e.g. 500ms:2s), got "${text}"`, command);
  const [minText = '', maxText] = parts;
  const minMs = parseDuration(minText, 'wait', command);
  const maxMs = maxText === undefined ? 4 * minMs : parseDuration(maxText, 'wait', command);
  if (minMs <= 0) throw new UsageError(`--wait: the minimum must be more than 0, got "${text}"`, command);
  if (maxMs < minMs)
    throw new UsageError(`--wait: the maximum must not be less than the minimum, got "${text}"`, command);
  return { minMs, maxMs };
}

/**
 * The values of `source` that `wait` lets through: the first at once, then the latest of each burst,
 * once `minMs` passed without another or `maxMs` after the burst began. Without `wait`, every value.
 * Ends with `source` (a pending burst is then dropped: the caller is stopping). Every timer is cleared
 * before a value is yielded and when iteration stops.
 *
 * @example `for await (const value of settle(cfg.values({ signal }), { minMs: 500, maxMs: 2000 })) apply(value);`
 */
export async function* settle<T>(
  source: AsyncIterable<T>,
  wait: WaitSpec | undefined,
): AsyncGenerator<T, void, undefined> {
  const it = source[Symbol.asyncIterator]();
  // A next() still outstanding when a timer won the race; it is the next one to wait for.
  let next: Promise<IteratorResult<T>> | undefined;
  let first = true;
  try {
    for (;;) {
      const r = await (next ?? it.next());
      next = undefined;
      if (r.done === true) return;
      if (first || wait === undefined) {
        first = false;
        yield r.value;
        continue;
      }
      let latest = r.value;
      const burstAt = performance.now();
      let lastAt = burstAt;
      for (;;) {
        const due = Math.min(lastAt + wait.minMs, burstAt + wait.maxMs);
        next ??= it.next();
        let timer: NodeJS.Timeout | undefined;
        const quiet = new Promise<undefined>((resolve) => {
          timer = setTimeout(resolve, Math.max(0, due - performance.now()), undefined);
        });
        const got = await Promise.race([next, quiet]).finally(() => clearTimeout(timer));
        if (got === undefined) break;
        next = undefined;
        if (got.done === true) return;
        latest = got.value;
        lastAt = performance.now();
      }
      yield latest;
    }
  } finally {
    // With a next() outstanding the source is suspended inside it: return() would wait for it, so it is
    // not awaited (the caller's signal ends the source).
    const done = it.return?.();
    if (next === undefined) await done;
    else void done?.catch(() => undefined);
  }
}
