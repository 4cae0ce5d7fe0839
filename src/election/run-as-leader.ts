import { hostname } from 'node:os';
import type { CoordContext } from '../core/context.js';
import { abortError, sleep, withDeadline, type WaitOptions } from '../core/deadline.js';
import { Backoff } from '../core/backoff.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { Session } from '../core/session.js';
import { assertName, assertOptionalDuration, assertOptionalSignal } from '../core/validate.js';
import { Election } from './election.js';
import { encodeValue, type CampaignValue } from './leader.js';
import type { Term } from './term.js';

/** Options of {@link runAsLeader}. */
export interface RunAsLeaderOptions extends WaitOptions {
  /** The value to campaign with (what `observe()` and `etcdctl elect -l` show). Default `<hostname>:<pid>`. */
  value?: CampaignValue | undefined;
  /**
   * `true` (default): wait in line to be elected. `false`: run `fn` only if elected at once
   * (`Election.tryCampaign`); otherwise return `undefined` without running it and leave no candidate key.
   */
  wait?: boolean | undefined;
  /**
   * Campaign again when a term ends (lost, or `fn` returned), until `signal` aborts: a long-running leader
   * that survives losing its lease. Default `false`.
   */
  repeat?: boolean | undefined;
  /** Campaign under this session instead of the coordinator's default one. */
  session?: Session | undefined;
  /** See `ElectionOptions.lockDelayMs`: after a lost leader (not a clean resign), wait this long before running fn. */
  lockDelayMs?: number | undefined;
}

/**
 * Campaigns, runs `fn(signal)` while leader, aborts `signal` the moment leadership is lost, and resigns when
 * `fn` returns or throws. With `repeat`, campaigns again after every term until `opts.signal` aborts.
 *
 * @example
 * ```ts
 * await runAsLeader(coord, 'cron/compactor', async (signal) => {
 *   while (!signal.aborted) await compactOnce({ signal });
 * }, { repeat: true, signal: shutdown });
 * ```
 *
 * Calls on one name and session run one at a time: a second call waits in line behind the first (its wait
 * covered by `timeoutMs`/`signal`), so two bodies of one name never run at once in one process either.
 *
 * @returns what `fn` returned in the last term; `undefined` when not elected (`wait: false`) or stopped by `signal`
 * @throws what `fn` threw (after resigning); LockTimeoutError / AbortedError from the campaign
 * @throws UnavailableError when the final resign was not confirmed (it goes on in the background while the
 *   session lives); an `AggregateError` of both when `fn` threw and the resign failed too
 *
 * Failure modes: etcd unreachable → `signal` aborts with `SessionExpiredError` before the lease can expire
 * on the server, so before another candidate can be elected; `fn` must stop touching shared state then
 * (or pass the term's fencing token with its writes). The leader key deleted mid-body (`etcdctl del`):
 * `signal` aborts, and the next call of this name in this process starts its body only after this body
 * has returned (with `lockDelayMs`, also not before lockDelayMs after the loss). A process resumed after
 * SIGSTOP past its TTL may run one more timer step of `fn` before `signal` aborts (timer order after
 * SIGCONT): guard shared writes with the term's guard or fencing token, never with a flag.
 */
export async function runAsLeader<T>(
  ctx: CoordContext,
  name: string,
  fn: (signal: AbortSignal, term: { fencingToken: bigint; key: string }) => Promise<T>,
  opts: RunAsLeaderOptions = {},
): Promise<T | undefined> {
  assertName(name, 'name');
  if (typeof fn !== 'function') throw new TypeError(`Expected \`fn\` to be a function, got ${typeof fn}`);
  assertOptionalSignal(opts.signal);
  assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
  if (opts.wait !== undefined && typeof opts.wait !== 'boolean')
    throw new InvalidArgumentError('Expected `wait` to be a boolean');
  if (opts.repeat !== undefined && typeof opts.repeat !== 'boolean')
    throw new InvalidArgumentError('Expected `repeat` to be a boolean');
  const value = opts.value ?? `${hostname()}:${process.pid}`;
  encodeValue(value, 'value', 0);
  // The turn stays with a lost term until its body has returned (term.close() below): two bodies of one
  // name never run at once in one process, even when the key is deleted mid-body (breaker F1).
  const election = new Election(ctx, name, {
    session: opts.session,
    lockDelayMs: opts.lockDelayMs,
    turnUntilClose: true,
  });
  const backoff = new Backoff(100, 2000);
  let result: T | undefined;
  for (;;) {
    let term: Term | null;
    try {
      const campaign = { signal: opts.signal, timeoutMs: opts.timeoutMs };
      term =
        opts.wait === false
          ? await election.tryCampaign(value, campaign)
          : await election.campaign(value, campaign);
    } catch (err) {
      if (!opts.repeat || opts.signal?.aborted || ctx.closedSignal.aborted) throw err;
      // Lost the lease or the key while waiting: wait a little, then stand again (a new session is granted).
      await sleep(backoff.next(), opts.signal, `runAsLeader "${name}"`);
      continue;
    }
    if (!term) return undefined;
    backoff.reset();
    const scope = withDeadline(opts.signal, undefined, term.signal);
    let failure: { err: unknown } | undefined;
    try {
      result = await fn(scope.signal, { fencingToken: term.fencingToken, key: term.key });
    } catch (err) {
      // fn failing because the term ended is a loss, not a crash: with `repeat`, stand again.
      const lost = term.signal.aborted && !opts.signal?.aborted;
      if (!(opts.repeat && lost)) failure = { err };
    } finally {
      scope.dispose();
    }
    const last = !opts.repeat || failure !== undefined || opts.signal?.aborted || ctx.closedSignal.aborted;
    try {
      // A resign that cannot be confirmed is not swallowed: the last term's caller hears of it. Between
      // repeated terms it is not fatal: it goes on in the background and the next campaign waits for it.
      await term.close();
    } catch (err) {
      if (last && failure) {
        throw new AggregateError(
          [failure.err, err],
          `runAsLeader "${name}": fn failed, and so did the resign after it`,
        );
      }
      if (last) throw err;
    }
    if (failure) throw failure.err;
    if (!opts.repeat) return result;
    if (opts.signal?.aborted) return result;
    if (ctx.closedSignal.aborted) throw abortError(ctx.closedSignal, `runAsLeader "${name}"`);
  }
}
