import { describe, expect, it } from 'vitest';
import { parseWait, settle } from '../../src/cli/commands/config-wait.js';
import { UsageError } from '../../src/cli/exit-codes.js';

/** A source whose values are pushed by the test; `end()` finishes it. */
function pushSource<T>(): { source: AsyncIterable<T>; push: (v: T) => void; end: () => void } {
  const queue: IteratorResult<T>[] = [];
  let wake: (() => void) | undefined;
  const source: AsyncIterable<T> = {
    [Symbol.asyncIterator]: () => ({
      async next() {
        while (queue.length === 0) await new Promise<void>((r) => (wake = r));
        return queue.shift() as IteratorResult<T>;
      },
    }),
  };
  const add = (r: IteratorResult<T>): void => {
    queue.push(r);
    wake?.();
  };
  return {
    source,
    push: (value) => add({ value, done: false }),
    end: () => add({ value: undefined, done: true }),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const waitForLength = async (list: unknown[], n: number, timeoutMs: number): Promise<void> => {
  const deadline = performance.now() + timeoutMs;
  while (list.length < n && performance.now() < deadline) await sleep(10);
};

describe('config --wait (quiescence)', () => {
  it('parses min[:max] with max = 4 × min by default', () => {
    expect(parseWait('500ms:2s', 'config')).toEqual({ minMs: 500, maxMs: 2000 });
    expect(parseWait('1s', 'config')).toEqual({ minMs: 1000, maxMs: 4000 });
    expect(parseWait('250ms:250ms', 'config')).toEqual({ minMs: 250, maxMs: 250 });
  });

  it('refuses bad values naming --wait', () => {
    for (const bad of ['', 'abc', '1s:', ':1s', '1s:2s:3s', '2s:1s', '0s', '0:1s', '-1s']) {
      expect(() => parseWait(bad, 'config'), bad).toThrow(UsageError);
      expect(() => parseWait(bad, 'config'), bad).toThrow(/--wait/);
    }
  });

  it('a burst is one value (the last), once min passed without another', async () => {
    const { source, push, end } = pushSource<number>();
    const seen: [number, number][] = [];
    const t0 = performance.now();
    const done = (async () => {
      for await (const v of settle(source, { minMs: 400, maxMs: 10_000 }))
        seen.push([v, performance.now() - t0]);
    })();
    push(0); // the first value: at once
    await sleep(20);
    expect(seen.map(([v]) => v)).toEqual([0]);
    let lastPushAt = 0;
    for (let i = 1; i <= 6; i++) {
      push(i);
      lastPushAt = performance.now() - t0;
      await sleep(40);
    }
    expect(seen.map(([v]) => v)).toEqual([0]); // still within min of the last write
    await waitForLength(seen, 2, 5000);
    await sleep(200);
    expect(seen.map(([v]) => v)).toEqual([0, 6]);
    expect(seen[1]?.[1] ?? 0).toBeGreaterThanOrEqual(lastPushAt + 395); // min counted from the LAST write
    end();
    await done;
  });

  it('a key written non-stop is still let through every max', async () => {
    const { source, push, end } = pushSource<number>();
    const seen: number[] = [];
    const done = (async () => {
      for await (const v of settle(source, { minMs: 100, maxMs: 300 })) seen.push(v);
    })();
    push(0);
    for (let i = 1; i <= 20; i++) {
      push(i);
      await sleep(50); // never quiet for 100 ms
    }
    // ~1000 ms of writes with max 300 ms: 3 or so values let through during the burst (min alone: none).
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen.length).toBeLessThan(15); // yet fewer than the 21 values: bursts were merged
    end();
    await done;
  });

  it('without --wait every value passes; a pending burst is dropped when the source ends', async () => {
    const a = pushSource<number>();
    const all: number[] = [];
    const doneA = (async () => {
      for await (const v of settle(a.source, undefined)) all.push(v);
    })();
    for (let i = 0; i < 3; i++) {
      a.push(i);
      await sleep(5);
    }
    a.end();
    await doneA;
    expect(all).toEqual([0, 1, 2]);

    const b = pushSource<number>();
    const some: number[] = [];
    const doneB = (async () => {
      for await (const v of settle(b.source, { minMs: 10_000, maxMs: 10_000 })) some.push(v);
    })();
    b.push(0);
    b.push(1);
    await sleep(20);
    b.end();
    await doneB; // returns at once: the 10 s timer does not keep it (or the test) waiting
    expect(some).toEqual([0]);
  });
});
