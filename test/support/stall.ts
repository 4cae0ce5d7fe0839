/**
 * A stalled apply (issue 15): the way a write of unknown outcome comes back *later*. A member is
 * SIGSTOPped with the client's requests already in its socket buffers, and the client's path to it is
 * blackholed, so neither its reply nor the client's cancel (RST_STREAM) gets through: the client times
 * out and fails over to a healthy member. On `release()` the member resumes, reads the stale requests
 * and applies them — after whatever the client did meanwhile.
 *
 * @example
 * const proxy = await FaultProxy.start(follower.endpoint);
 * const stall = await stallApply(follower, [proxy]);      // requests sent through `proxy` now hang
 * await expect(putVia(proxy)).rejects.toThrow();          // the client gives up; the put is buffered
 * await putElsewhere();                                   // a newer write through another member
 * await stall.release();                                  // the buffered put is applied now
 *
 * @throws Error when the member is not running (from `pause()`).
 *
 * Failure modes: a request sent after the proxies were blackholed never reaches the member (it is not
 * "stalled", only lost); a stale request the member reads after the client's deadline is still applied
 * because etcd's server times a request from when it reads it. `release()` is idempotent.
 *
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { EtcdMember } from './etcd.js';
import type { FaultProxy } from './proxy.js';

/** A running stall; see {@link stallApply}. */
export interface Stall {
  /** Blackholes `proxies` now (requests sent until then are inside the stopped member). */
  cut(): void;
  /**
   * SIGCONT the member, let it apply what it holds for `applyMs`, then pass the proxies again (those
   * `passIf` accepts: a caller may leave some to a fault of their own).
   */
  release(applyMs?: number, passIf?: (proxy: FaultProxy) => boolean): Promise<void>;
}

/**
 * Pauses `member`; after `settleMs` (requests on their way land in its buffers) blackholes `proxies`,
 * the client-side paths to it. Pass `settleMs: 0` and call {@link Stall.cut} yourself to choose the moment.
 */
export async function stallApply(
  member: EtcdMember,
  proxies: readonly (FaultProxy | undefined)[],
  settleMs = 200,
): Promise<Stall> {
  member.pause();
  let cut = false;
  let released: Promise<void> | undefined;
  const stall: Stall = {
    cut() {
      if (cut) return;
      cut = true;
      for (const p of proxies) p?.blackhole();
    },
    release(applyMs = 500, passIf = () => true) {
      released ??= (async () => {
        stall.cut();
        if (member.paused) member.resume();
        await sleep(applyMs);
        for (const p of proxies) if (p !== undefined && passIf(p)) p.pass();
      })();
      return released;
    },
  };
  if (settleMs > 0) {
    await sleep(settleMs);
    stall.cut();
  }
  return stall;
}
