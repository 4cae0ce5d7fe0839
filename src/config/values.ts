/**
 * An async iterator over a value that changes: the current value first, then the latest value after
 * each change. A consumer that falls behind skips to the newest value (the buffer holds one), so a
 * slow `for await` never grows memory.
 *
 * @param subscribe registers a listener for new values and returns the function that removes it
 * @param current the value to yield first, if there is one (read when iteration starts)
 * @param stops the iteration ends when any of these aborts
 */
export async function* latestValues<T>(
  subscribe: (onValue: (value: T) => void) => () => void,
  current: () => { value: T } | undefined,
  ...stops: (AbortSignal | undefined)[]
): AsyncGenerator<T, void, undefined> {
  const signals = stops.filter((s): s is AbortSignal => s !== undefined);
  let wake: (() => void) | undefined;
  const onStop = () => wake?.();
  // Subscribed and read in one step when iteration starts, so no change falls between the two.
  let latest = current();
  const unsubscribe = subscribe((value) => {
    latest = { value };
    wake?.();
  });
  for (const s of signals) s.addEventListener('abort', onStop);
  try {
    for (;;) {
      if (signals.some((s) => s.aborted)) return;
      if (latest) {
        const { value } = latest;
        latest = undefined;
        yield value;
        continue;
      }
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    unsubscribe();
    for (const s of signals) s.removeEventListener('abort', onStop);
  }
}
