import { EventEmitter } from 'eventemitter3';
import type { CoordContext } from '../core/context.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { KeyValue } from '../core/kv.js';
import type { WatchBatch } from '../core/watch-hub.js';
import { RangeFollower } from '../range/follow.js';
import {
  assertServiceName,
  decodeInstance,
  InvalidInstanceError,
  servicePrefix,
  type ServiceInstance,
} from './codec.js';

/** Events of a {@link ServiceDiscovery}. Handlers run synchronously; keep them short. */
export interface DiscoveryEvents {
  /** An instance appeared. */
  up: [instance: ServiceInstance];
  /** An instance went away (deregistered, its lease expired, or its value became invalid). */
  down: [instance: ServiceInstance];
  /** An instance's address, metadata or lease changed. */
  change: [instance: ServiceInstance, previous: ServiceInstance];
  /** The cache now reflects the service as of `revision` (once per snapshot and per changed revision). */
  update: [revision: bigint];
  /** A key under the service prefix holds something that is not an instance; it is left out of the cache. */
  invalid: [err: InvalidInstanceError];
  /** The watch broke or a re-read failed; discovery keeps retrying until closed. */
  error: [err: Error];
  /**
   * etcd lost its data (restarted empty, or restored from an older snapshot): the cache was re-read at
   * `revision` (which may be lower than before); `up`/`down`/`change` for the differences came first.
   */
  reset: [revision: bigint];
}

/** How {@link ServiceDiscovery.pick} chooses. */
export type PickStrategy = 'round-robin' | 'random';

/**
 * A live, consistent cache of a service's instances: a snapshot read at one revision R, then every change
 * from R+1 through the coordinator's shared watch stream. After a disconnect it resumes from the last
 * revision it applied (nothing lost or seen twice); if that history was compacted it re-reads the snapshot
 * and reports the difference as `up`/`down`/`change`.
 *
 * @example
 * ```ts
 * const svc = await coord.discovery('payments');
 * const target = svc.pick('round-robin');          // ServiceInstance | undefined
 * svc.on('down', (i) => pool.drop(i.address));
 * for await (const instances of svc.changes()) console.log(instances.map((i) => i.address));
 * await svc.close();
 * ```
 *
 * Failure modes: while etcd is unreachable the cache keeps its last state (it does not empty itself);
 * check `revision` for staleness. After etcd lost its data the cache is re-read (`reset`), so it never
 * stays on the old history. Values that are not `{"Addr": string, "Metadata"?: object}` JSON are
 * skipped with an `invalid` event, never crash the cache.
 */
export class ServiceDiscovery extends EventEmitter<DiscoveryEvents> {
  /** The service name. */
  readonly service: string;
  readonly #ctx: CoordContext;
  readonly #prefix: string;
  readonly #follower: RangeFollower;
  readonly #cache = new Map<string, ServiceInstance>();
  readonly #streams = new Set<{ notify: () => void; finish: () => void }>();
  #sorted: ServiceInstance[] | undefined;
  #rr = 0;
  #revision = 0n;
  #closing: Promise<void> | undefined;
  #untrack: () => void = () => undefined;

  /**
   * @internal use `await coord.discovery(service)`, which also reads the first snapshot.
   * @throws InvalidArgumentError for an empty service name, or one holding `/` or NUL
   */
  constructor(ctx: CoordContext, service: string) {
    super();
    assertServiceName(service);
    this.service = service;
    this.#ctx = ctx;
    this.#prefix = servicePrefix(service);
    this.#follower = new RangeFollower(ctx, this.#prefix, {
      onSnapshot: (kvs, revision, reason) => {
        this.#onSnapshot(kvs, revision);
        if (reason === 'reset') this.emit('reset', revision);
      },
      onBatch: (batch) => this.#onBatch(batch),
      onError: (err) => this.emit('error', err),
    });
  }

  /**
   * @internal Reads the first snapshot and starts watching, within `timeoutMs` (default: the coordinator's
   * `requestTimeoutMs`).
   */
  async start(
    opts: { signal?: AbortSignal | undefined; timeoutMs?: number | undefined } = {},
  ): Promise<void> {
    await this.#follower.start(opts);
    this.#untrack = this.#ctx.track(this);
  }

  /** The etcd revision the cache reflects. */
  get revision(): bigint {
    return this.#revision;
  }

  /** Number of instances in the cache. */
  get size(): number {
    return this.#cache.size;
  }

  /** Every instance, ordered by id. The array is a fresh copy. */
  instances(): ServiceInstance[] {
    return [...this.#list()];
  }

  /** One instance by id. */
  get(id: string): ServiceInstance | undefined {
    return this.#cache.get(id);
  }

  /**
   * Chooses an instance: `round-robin` cycles through the instances in id order (each gets one pick in every
   * `size` picks while the set is stable); `random` is uniform. `undefined` when there is none.
   *
   * @throws InvalidArgumentError for another strategy
   */
  pick(strategy: PickStrategy = 'round-robin'): ServiceInstance | undefined {
    if (strategy !== 'round-robin' && strategy !== 'random') {
      throw new InvalidArgumentError(
        `Expected \`strategy\` to be 'round-robin' or 'random', got ${String(strategy)}`,
      );
    }
    const list = this.#list();
    if (list.length === 0) return undefined;
    if (strategy === 'random') return list[Math.floor(Math.random() * list.length)];
    const turn = this.#rr;
    this.#rr = (turn + 1) % Number.MAX_SAFE_INTEGER;
    return list[turn % list.length];
  }

  /**
   * The instance list now, then again after every change. Bounded: a consumer that falls behind gets only
   * the latest list, never a backlog. `break` (or `return()`) ends it; so does `close()`.
   *
   * @example
   * ```ts
   * for await (const instances of svc.changes({ signal })) balancer.set(instances);
   * ```
   */
  changes(opts: { signal?: AbortSignal | undefined } = {}): AsyncIterableIterator<ServiceInstance[]> {
    let dirty = true;
    let done = false;
    let wake: (() => void) | undefined;
    const notify = (): void => {
      dirty = true;
      const w = wake;
      wake = undefined;
      w?.();
    };
    const finish = (): void => {
      done = true;
      this.#streams.delete(stream);
      opts.signal?.removeEventListener('abort', finish);
      const w = wake;
      wake = undefined;
      w?.();
    };
    const stream = { notify, finish };
    if (this.#closing || opts.signal?.aborted) done = true;
    else {
      this.#streams.add(stream);
      opts.signal?.addEventListener('abort', finish, { once: true });
    }
    const end = { done: true as const, value: undefined };
    const iterator: AsyncIterableIterator<ServiceInstance[]> = {
      next: async () => {
        while (!done && !dirty) await new Promise<void>((resolve) => (wake = resolve));
        if (done) return end;
        dirty = false;
        return { done: false, value: this.instances() };
      },
      return: () => {
        finish();
        return Promise.resolve(end);
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** Stops watching and ends every `changes()` iterator. The cache keeps its last state. Idempotent. */
  close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = Promise.resolve();
      this.#untrack();
      this.#follower.close();
      for (const stream of [...this.#streams]) stream.finish();
      this.#streams.clear();
    }
    return this.#closing;
  }

  /** The same as {@link ServiceDiscovery.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #list(): ServiceInstance[] {
    this.#sorted ??= [...this.#cache.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return this.#sorted;
  }

  #decode(kv: KeyValue): ServiceInstance | undefined {
    try {
      return decodeInstance(kv, this.#prefix.length);
    } catch (err) {
      if (err instanceof InvalidInstanceError) this.emit('invalid', err);
      else throw err;
      return undefined;
    }
  }

  #onSnapshot(kvs: KeyValue[], revision: bigint): void {
    const next = new Map<string, ServiceInstance>();
    for (const kv of kvs) {
      const inst = this.#decode(kv);
      if (inst) next.set(inst.id, inst);
    }
    for (const [id, prev] of [...this.#cache]) {
      if (!next.has(id)) this.#remove(prev);
    }
    for (const inst of next.values()) this.#set(inst);
    this.#applied(revision);
  }

  #onBatch(batch: WatchBatch): void {
    for (const event of batch.events) {
      const id = event.kv.key.toString().slice(this.#prefix.length);
      if (event.type === 'delete') {
        const prev = this.#cache.get(id);
        if (prev) this.#remove(prev);
        continue;
      }
      const inst = this.#decode(event.kv);
      if (inst) this.#set(inst);
      else {
        const prev = this.#cache.get(id);
        if (prev) this.#remove(prev);
      }
    }
    this.#applied(batch.revision);
  }

  #set(inst: ServiceInstance): void {
    const prev = this.#cache.get(inst.id);
    // The revision alone is not enough: after a store reset the new history may write the same id at the same
    // revision number with another address, so an equal revision only means "unchanged" if the content is too.
    if (prev && prev.revision === inst.revision && sameInstance(prev, inst)) return;
    this.#cache.set(inst.id, inst);
    this.#sorted = undefined;
    if (prev) this.emit('change', inst, prev);
    else this.emit('up', inst);
  }

  #remove(inst: ServiceInstance): void {
    this.#cache.delete(inst.id);
    this.#sorted = undefined;
    this.emit('down', inst);
  }

  #applied(revision: bigint): void {
    this.#revision = revision;
    this.emit('update', revision);
    for (const stream of this.#streams) stream.notify();
  }
}

function sameInstance(a: ServiceInstance, b: ServiceInstance): boolean {
  return (
    a.address === b.address &&
    a.leaseId === b.leaseId &&
    JSON.stringify(a.metadata) === JSON.stringify(b.metadata)
  );
}
