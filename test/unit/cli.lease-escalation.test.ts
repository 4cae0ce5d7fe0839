import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { escalateFromLease, sessionMarginMs, type LeaseLike } from '../../src/cli/lease-escalation.js';
import { KILL_SAFETY_MS, maxKillAfterMs } from '../../src/cli/kill-policy.js';

/** A lease whose keepalives we control: `remainingMs` counts down from the last "ack". */
class FakeLease extends EventEmitter implements LeaseLike {
  readonly leaseId = 0xabcn;
  readonly ttlSeconds = 2;
  readonly controller = new AbortController();
  #deadline = performance.now() + 2000 - sessionMarginMs(2);
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  get remainingMs(): number {
    return Math.max(0, this.#deadline - performance.now());
  }
  ack(): void {
    this.#deadline = performance.now() + 2000 - sessionMarginMs(2);
    this.emit('keepalive');
  }
}

function recorder() {
  const calls: { lost?: { at: number; reason: unknown }; killBy: number[] } = { killBy: [] };
  return {
    calls,
    child: {
      lose: (reason: unknown) => (calls.lost ??= { at: performance.now(), reason }),
      killNoLaterThan: (at: number) => calls.killBy.push(at),
    },
  };
}

describe('CLI escalation scheduled from the lease', () => {
  it('SIGKILL is due 250 ms before the earliest server-side expiry (last acked send + TTL)', () => {
    const lease = new FakeLease();
    const { calls, child } = recorder();
    const t0 = performance.now();
    const stop = escalateFromLease(child, lease, 500);
    stop();
    // remainingMs + margin = TTL from the last ack.
    expect(calls.killBy[0]).toBeGreaterThan(t0 + 2000 - KILL_SAFETY_MS - 20);
    expect(calls.killBy[0]).toBeLessThanOrEqual(performance.now() + 2000 - KILL_SAFETY_MS);
  });

  it('with no keepalive acknowledged, SIGTERM comes kill-after before the SIGKILL deadline', async () => {
    const lease = new FakeLease();
    const { calls, child } = recorder();
    const killAfterMs = maxKillAfterMs(2); // 750: SIGTERM ~1000 ms after the last ack
    const stop = escalateFromLease(child, lease, killAfterMs);
    await new Promise((r) => setTimeout(r, 1300));
    stop();
    const killBy = calls.killBy.at(-1) ?? 0;
    expect(calls.lost?.reason).toBeInstanceOf(Error);
    expect(String(calls.lost?.reason)).toMatch(/at risk: no keepalive acknowledged/);
    expect(killBy - (calls.lost?.at ?? 0)).toBeLessThanOrEqual(killAfterMs + 5);
  });

  it('acknowledged keepalives move the deadlines later and never terminate the child', async () => {
    const lease = new FakeLease();
    const { calls, child } = recorder();
    const stop = escalateFromLease(child, lease, 750);
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 250));
      lease.ack();
    }
    stop();
    expect(calls.lost).toBeUndefined();
    expect(calls.killBy.length).toBe(7);
    expect(calls.killBy[6]).toBeGreaterThan(calls.killBy[0] ?? Infinity);
  });

  it("a lost session terminates the child at once, with the session's reason", () => {
    const lease = new FakeLease();
    const { calls, child } = recorder();
    const stop = escalateFromLease(child, lease, 750);
    const reason = new Error('session lost');
    lease.controller.abort(reason);
    stop();
    expect(calls.lost?.reason).toBe(reason);
  });
});
