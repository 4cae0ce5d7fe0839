import type { CoordContext } from '../core/context.js';
import { raceAbort } from '../core/deadline.js';
import { DeletionWatch } from '../core/deletion-watch.js';

/** How long an unused prefix watch stays open, so back-to-back lock cycles do not create and cancel watchers. */
const LINGER_MS = 2000;

interface Entry {
  readonly opening: Promise<DeletionWatch>;
  refs: number;
  timer: NodeJS.Timeout | undefined;
  /** Removed from the registry (broken or coordinator closed): closed once its last user leaves. */
  retired: boolean;
}

/** A reference to a shared {@link DeletionWatch}. `release()` is idempotent. */
export interface PrefixWatch {
  readonly watch: DeletionWatch;
  /** Drops this reference; the watch closes when it was the last one (after a short linger). */
  release(): void;
  /** The watch failed (compaction, cancellation): the next `acquirePrefixWatch` opens a fresh one. */
  retire(): void;
}

const registries = new WeakMap<CoordContext, Map<string, Entry>>();

function registryOf(ctx: CoordContext): Map<string, Entry> {
  let reg = registries.get(ctx);
  if (!reg) {
    const created = new Map<string, Entry>();
    reg = created;
    registries.set(ctx, created);
    ctx.track({
      close: async () => {
        const entries = [...created.values()];
        created.clear();
        for (const e of entries) {
          e.retired = true;
          if (e.timer) clearTimeout(e.timer);
          e.opening.then(
            (w) => w.close(),
            () => undefined,
          );
        }
      },
    });
  }
  return reg;
}

/**
 * One long-lived {@link DeletionWatch} per coordinator and lock prefix, shared by every waiter and holder of
 * that lock in this process (creating and cancelling a watcher per wait has been seen to hang the `etcd3`
 * client under churn). Opened before the caller's first write, so every later event on the prefix is seen.
 *
 * @throws AbortedError when `signal` aborts before the watch is live
 */
export async function acquirePrefixWatch(
  ctx: CoordContext,
  range: { key: Buffer; end: Buffer },
  signal: AbortSignal | undefined,
): Promise<PrefixWatch> {
  const reg = registryOf(ctx);
  const id = `${range.key.toString('hex')}:${range.end.toString('hex')}`;
  let entry = reg.get(id);
  if (!entry) {
    const opening = DeletionWatch.open(ctx, range.key, range.end, ctx.closedSignal);
    const created: Entry = { opening, refs: 0, timer: undefined, retired: false };
    entry = created;
    reg.set(id, created);
    opening.catch(() => {
      if (reg.get(id) === created) reg.delete(id);
    });
  }
  const e = entry;
  e.refs++;
  if (e.timer) clearTimeout(e.timer);
  e.timer = undefined;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    e.refs--;
    if (e.refs > 0) return;
    if (e.retired) {
      e.opening.then(
        (w) => w.close(),
        () => undefined,
      );
      return;
    }
    e.timer = setTimeout(() => {
      if (e.refs > 0) return;
      if (reg.get(id) === e) reg.delete(id);
      e.retired = true;
      e.opening.then(
        (w) => w.close(),
        () => undefined,
      );
    }, LINGER_MS);
    e.timer.unref();
  };
  try {
    const watch = await raceAbort(e.opening, signal, 'lock: open watch');
    return {
      watch,
      release,
      retire: () => {
        if (reg.get(id) === e) reg.delete(id);
        e.retired = true;
      },
    };
  } catch (err) {
    release();
    throw err;
  }
}
