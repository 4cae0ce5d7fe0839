import { hostname } from 'node:os';
import type { CoordContext } from '../core/context.js';
import { abortError, sleep, withDeadline, type WaitOptions } from '../core/deadline.js';
import { Backoff } from '../core/backoff.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { Session } from '../core/session.js';
import { assertName, assertOptionalDuration, assertOptionalSignal } from '../core/validate.js';
import { Election } from './election.js';
import { encodeValue, type CampaignValue } from './leader.js';

/** Options of {@link runAsLeader}. */
export interface RunAsLeaderOptions extends WaitOptions {
  /** The value to campaign with (what `observe()` and `etcdctl elect -l` show). Default `<hostname>:<pid>`. */
  value?: CampaignValue | undefined;
  /**
   * `true` (default): wait in line to be elected. `false`: if another candidate leads when called, return
   * `undefined` at once without running `fn`.
   */
  wait?: boolean | undefined;
  /**
   * Campaign again when a term ends (lost, or `fn` returned), until `signal` aborts: a long-running leader
   * that survives losing its lease. Default `false`.
   */
  repeat?: boolean | undefined;
  /** Campaign under this session instead of the coordinator's default one. */
  session?: Session | undefined;
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
 * @returns what `fn` returned in the last term; `undefined` when not elected (`wait: false`) or stopped by `signal`
 * @throws what `fn` threw (after resigning); LockTimeoutError / AbortedError from the campaign
 *
 * Failure modes: etcd unreachable → `signal` aborts with `SessionExpiredError` before the lease can expire
 * on the server, so before another candidate can be elected; `fn` must stop touching shared state then
 * (or pass the term's fencing token with its writes).
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
  const election = new Election(ctx, name, opts.session ? { session: opts.session } : {});
  const backoff = new Backoff(100, 2000);
  let result: T | undefined;
  for (;;) {
    if (opts.wait === false) {
      const leader = await election.leader({ signal: opts.signal });
      if (leader) return undefined;
    }
    let term;
    try {
      term = await election.campaign(value, { signal: opts.signal, timeoutMs: opts.timeoutMs });
    } catch (err) {
      if (!opts.repeat || opts.signal?.aborted || ctx.closedSignal.aborted) throw err;
      // Lost the lease or the key while waiting: wait a little, then stand again (a new session is granted).
      await sleep(backoff.next(), opts.signal, `runAsLeader "${name}"`);
      continue;
    }
    backoff.reset();
    const scope = withDeadline(opts.signal, undefined, term.signal);
    try {
      result = await fn(scope.signal, { fencingToken: term.fencingToken, key: term.key });
    } catch (err) {
      // fn failing because the term ended is a loss, not a crash: with `repeat`, stand again.
      const lost = term.signal.aborted && !opts.signal?.aborted;
      if (!(opts.repeat && lost)) throw err;
    } finally {
      scope.dispose();
      await term.close();
    }
    if (!opts.repeat) return result;
    if (opts.signal?.aborted) return result;
    if (ctx.closedSignal.aborted) throw abortError(ctx.closedSignal, `runAsLeader "${name}"`);
  }
}
