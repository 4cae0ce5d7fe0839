/**
 * Which slots a host should act on, from the schedule alone (pure, so it is unit-tested without etcd).
 *
 * A slot is *due* when its scheduled time has passed and lies within the catch-up window; *missed* when it
 * is older than that. The window is never narrower than `jitterMs + graceMs`: a host starting up (or whose
 * clock runs late) must not declare a slot missed that another host is about to start — that host waits up
 * to `jitterMs` after the slot's time before it runs it.
 *
 * @example
 * ```ts
 * const { due, missed } = planSlots(runsBetween, { now, after: lastSeen, catchUpMs: 6 * 3600_000, jitterMs, graceMs: 5000 });
 * ```
 *
 * Failure modes: none; `maxMissed` bounds how many missed slots are returned (the newest), so a job that was
 * down for a year does not record 500,000 slots.
 */
export interface PlanInput {
  /** The clock's now, in ms. */
  now: number;
  /** Slots at or before this instant (ms) were handled already. */
  after: number;
  catchUpMs: number;
  jitterMs: number;
  graceMs: number;
  /** At most this many missed slots (the newest). */
  maxMissed: number;
}

/** Slot times (ms), oldest first. */
export interface Plan {
  due: number[];
  missed: number[];
}

/** Splits the scheduled times in (`after`, `now`] into due and missed ones; `runs(after, now)` lists them. */
export function planSlots(runs: (after: number, until: number) => number[], input: PlanInput): Plan {
  const window = Math.max(input.catchUpMs, input.jitterMs + input.graceMs);
  const all = runs(input.after, input.now);
  const oldestDue = input.now - window;
  const due = all.filter((t) => t > oldestDue);
  const missed = all.filter((t) => t <= oldestDue).slice(-input.maxMissed);
  return { due, missed };
}
