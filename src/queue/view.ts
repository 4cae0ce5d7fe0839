import type { CoordContext } from '../core/context.js';
import type { KeyValue } from '../core/kv.js';
import type { WatchBatch } from '../core/watch-hub.js';
import { RangeFollower } from '../range/follow.js';
import { bucketPriority, decodeItem, type ItemHeader } from './item.js';

/** One item as this process last saw it. */
export interface Entry {
  /** `<bucket>/<token>`: the item key and the claim key end with it. */
  rel: string;
  priority: number;
  /** The job's id and FIFO position: the create revision of the item key (kept across nack re-puts). */
  createRevision: bigint;
  modRevision: bigint;
  header: ItemHeader;
  payload: Buffer;
  /** Which list holds it. */
  list: 'ready' | 'delayed' | 'none';
  /** A local claim attempt is in flight. */
  inFlight: boolean;
  /** Bumped on every change to the item or its claim. */
  gen: number;
  /** A claim attempt made at this `gen` lost the race: skip the item until it or its claim changes. */
  lostGen: number;
  /** `performance.now()` when it last became free (put, claim gone, due); 0 for items found in a snapshot. */
  freeSince: number;
}

/** What {@link QueueView.pick} found: an item to try now, or the moment one becomes this consumer's turn. */
export interface Pick {
  entry?: Entry | undefined;
  /** `performance.now()` at which an item passed over because of its rank becomes eligible. */
  wakeAt?: number | undefined;
}

/** FNV-1a: a cheap, well-spread hash for rendezvous ranking. */
function score(item: string, consumer: string): number {
  let h = 0x811c9dc5;
  const s = `${item}|${consumer}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A claim key as seen: who holds which item. */
export interface ClaimInfo {
  createRevision: bigint;
  leaseId: bigint;
  value: Buffer;
}

/**
 * Orders entries as they are served: higher priority first, then by create revision (FIFO). The jobs of one
 * `pushMany()` share a revision; their keys end with their zero-padded batch index, so the key orders them.
 */
export function servedBefore(a: Entry, b: Entry): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  if (a.createRevision !== b.createRevision) return a.createRevision < b.createRevision ? -1 : 1;
  return a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0;
}

function dueBefore(a: Entry, b: Entry): number {
  return a.header.v - b.header.v || servedBefore(a, b);
}

/** Index of the first element not ordered before `e` (binary search). */
function lowerBound(list: Entry[], e: Entry, cmp: (a: Entry, b: Entry) => number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cmp(list[mid]!, e) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The local picture of one queue, kept by one {@link RangeFollower} on `queue/<name>/` (items, claims
 * and registered consumers): a snapshot, then every change. It holds the visible items in serving order and the delayed
 * ones by due time, with one timer for the earliest due item. It sends no request of its own after the
 * snapshot: an idle consumer costs one shared watch.
 *
 * Memory is O(items in the queue) per process; see the README section for the limit this implies.
 * After a store reset (etcd lost its data) it is rebuilt from a fresh snapshot and `onReset` is called first.
 */
export class QueueView {
  readonly #follower: RangeFollower;
  readonly #itemsPrefix: string;
  readonly #claimsPrefix: string;
  readonly #consumersPrefix: string;
  /** Consumers registered on this queue (one key per session lease): the rendezvous ranking's members. */
  readonly #consumers = new Set<string>();
  readonly #onChange: () => void;
  readonly #entries = new Map<string, Entry>();
  readonly #claims = new Map<string, ClaimInfo>();
  /** Visible items (claimed or not) in serving order. */
  readonly #ready: Entry[] = [];
  /** Items not yet visible, by due time. */
  readonly #delayed: Entry[] = [];
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #closed = false;

  constructor(
    ctx: CoordContext,
    prefix: string,
    onChange: () => void,
    onError: (err: Error) => void,
    onReset: () => void = () => undefined,
  ) {
    this.#itemsPrefix = `${prefix}items/`;
    this.#claimsPrefix = `${prefix}claims/`;
    this.#consumersPrefix = `${prefix}consumers/`;
    this.#onChange = onChange;
    this.#follower = new RangeFollower(ctx, prefix, {
      onSnapshot: (kvs, _revision, reason) => {
        // Before the rebuild: the owner forgets revisions of the old history before it is told of the change.
        if (reason === 'reset') onReset();
        this.#onSnapshot(kvs);
      },
      onBatch: (batch) => this.#onBatch(batch),
      onError,
    });
  }

  /**
   * Reads the snapshot and starts following. No deadline of its own: `pop()` is a long wait bounded by its
   * own `signal`/`timeoutMs`, and waits through an outage.
   */
  start(signal: AbortSignal | undefined): Promise<void> {
    return this.#follower.start({ signal, timeoutMs: Number.POSITIVE_INFINITY });
  }

  close(): void {
    this.#closed = true;
    this.#follower.close();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  get(rel: string): Entry | undefined {
    return this.#entries.get(rel);
  }

  claim(rel: string): ClaimInfo | undefined {
    return this.#claims.get(rel);
  }

  /** Every claim seen, by item rel. */
  get claims(): ReadonlyMap<string, ClaimInfo> {
    return this.#claims;
  }

  /** Revision of the last snapshot or change applied. */
  get revision(): bigint {
    return this.#follower.revision;
  }

  /** Items seen (visible, delayed and claimed). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * An item to try to claim, among the free items of the highest priority present (not being tried here,
   * not just lost):
   *
   * - a freshly freed item goes first to the consumer that ranks highest for it (rendezvous hashing over
   *   the registered consumers); the one ranked r-th takes its turn `r × graceMs` later, if the item is
   *   still free. So consumers waiting on an empty queue do not all race for each new item;
   * - among the items that are this consumer's turn, one at random among the first `spread` (with
   *   `spread` 1: the head, strict FIFO).
   */
  pick(spread: number, me: string, graceMs: number): Pick {
    this.#promoteDue();
    const now = performance.now();
    const found: Entry[] = [];
    let priority: number | undefined;
    let wakeAt: number | undefined;
    for (const e of this.#ready) {
      if (e.inFlight || this.#claims.has(e.rel) || e.lostGen === e.gen) continue;
      // The window never crosses into a lower priority: priority order stays strict.
      if (priority !== undefined && e.priority !== priority) break;
      priority = e.priority;
      const at = e.freeSince === 0 ? 0 : e.freeSince + this.#rank(e.rel, me) * graceMs;
      if (at > now) {
        wakeAt = Math.min(wakeAt ?? at, at);
        continue;
      }
      found.push(e);
      if (found.length >= spread) break;
    }
    const entry = found.length <= 1 ? found[0] : found[Math.floor(Math.random() * found.length)];
    return { entry, wakeAt: entry ? undefined : wakeAt };
  }

  /** How many registered consumers rank above `me` for this item. */
  #rank(rel: string, me: string): number {
    if (this.#consumers.size === 0) return 0;
    const mine = score(rel, me);
    let rank = 0;
    for (const c of this.#consumers) if (c !== me && score(rel, c) > mine) rank++;
    return rank;
  }

  #onSnapshot(kvs: KeyValue[]): void {
    this.#entries.clear();
    this.#claims.clear();
    this.#consumers.clear();
    this.#ready.length = 0;
    this.#delayed.length = 0;
    for (const kv of kvs) this.#apply('put', kv, 0);
    this.#changed();
  }

  #onBatch(batch: WatchBatch): void {
    const now = performance.now();
    for (const ev of batch.events) this.#apply(ev.type, ev.kv, now);
    this.#changed();
  }

  #apply(type: 'put' | 'delete', kv: KeyValue, now: number): void {
    const key = kv.key.toString('utf8');
    if (key.startsWith(this.#consumersPrefix)) {
      const id = key.slice(this.#consumersPrefix.length);
      if (type === 'put') this.#consumers.add(id);
      else this.#consumers.delete(id);
      return;
    }
    if (key.startsWith(this.#claimsPrefix)) {
      const rel = key.slice(this.#claimsPrefix.length);
      if (type === 'put')
        this.#claims.set(rel, { createRevision: kv.createRevision, leaseId: kv.leaseId, value: kv.value });
      else this.#claims.delete(rel);
      const e = this.#entries.get(rel);
      if (e) {
        e.gen++;
        if (type === 'delete') e.freeSince = now;
      }
      return;
    }
    if (!key.startsWith(this.#itemsPrefix)) return;
    const rel = key.slice(this.#itemsPrefix.length);
    const old = this.#entries.get(rel);
    if (old) this.#unlist(old);
    if (type === 'delete') {
      this.#entries.delete(rel);
      return;
    }
    const decoded = decodeItem(kv.value);
    const slash = rel.indexOf('/');
    // A key this module did not write is left alone (never handed out, never deleted).
    if (!decoded || slash < 0) return void this.#entries.delete(rel);
    const e: Entry = old ?? {
      rel,
      priority: bucketPriority(rel.slice(0, slash)),
      createRevision: kv.createRevision,
      modRevision: kv.modRevision,
      header: decoded.header,
      payload: decoded.payload,
      list: 'none',
      inFlight: false,
      gen: 0,
      lostGen: -1,
      freeSince: now,
    };
    e.createRevision = kv.createRevision;
    e.modRevision = kv.modRevision;
    e.header = decoded.header;
    e.payload = decoded.payload;
    e.gen++;
    e.freeSince = now;
    this.#entries.set(rel, e);
    this.#list(e);
  }

  #list(e: Entry): void {
    if (e.header.v > Date.now()) {
      this.#delayed.splice(lowerBound(this.#delayed, e, dueBefore), 0, e);
      e.list = 'delayed';
    } else {
      this.#ready.splice(lowerBound(this.#ready, e, servedBefore), 0, e);
      e.list = 'ready';
    }
  }

  #unlist(e: Entry): void {
    const [list, cmp] = e.list === 'ready' ? [this.#ready, servedBefore] : [this.#delayed, dueBefore];
    if (e.list !== 'none') {
      const i = lowerBound(list, e, cmp);
      if (list[i] === e) list.splice(i, 1);
      else list.splice(list.indexOf(e), 1);
    }
    e.list = 'none';
  }

  /** Moves the items that are due into the ready list. */
  #promoteDue(): void {
    const now = Date.now();
    let n = 0;
    while (n < this.#delayed.length && this.#delayed[n]!.header.v <= now) n++;
    if (n === 0) return;
    const at = performance.now();
    for (const e of this.#delayed.splice(0, n)) {
      this.#ready.splice(lowerBound(this.#ready, e, servedBefore), 0, e);
      e.list = 'ready';
      e.freeSince = at;
    }
  }

  #changed(): void {
    this.#promoteDue();
    this.#armTimer();
    this.#onChange();
  }

  /** One timer, for the earliest delayed item. */
  #armTimer(): void {
    const next = this.#delayed[0]?.header.v ?? Number.POSITIVE_INFINITY;
    if (next === this.#timerAt || this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = next;
    if (next === Number.POSITIVE_INFINITY) return;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = Number.POSITIVE_INFINITY;
        this.#changed();
      },
      Math.max(0, next - Date.now()),
    );
    this.#timer.unref();
  }
}
