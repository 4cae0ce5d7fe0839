/**
 * The {@link EtcdCluster} implementation shared by every kind (external, binary, container):
 * tracked clients, leader lookup, health wait, compaction and cleanup.
 *
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3, GRPCOutOfRangeError } from 'etcd3';
import type { EtcdCluster, EtcdMember } from './etcd.js';
import type { BinaryMember } from './etcd-member.js';
import { probeRead, probeStatus } from './probe.js';

const LEADER_TIMEOUT_MS = 10_000;
const HEALTH_TIMEOUT_MS = 15_000;

/** See {@link EtcdCluster}. `teardown` releases what the launcher started (processes, dirs, container). */
export class Cluster implements EtcdCluster {
  readonly kind: EtcdCluster['kind'];
  readonly members: readonly BinaryMember[];
  readonly endpoints: string[];
  readonly #teardown: () => Promise<void>;
  readonly #clients = new Set<Etcd3>();
  #admin: Etcd3 | undefined;
  #stopping: Promise<void> | undefined;

  constructor(
    kind: EtcdCluster['kind'],
    endpoints: string[],
    members: readonly BinaryMember[],
    teardown: () => Promise<void>,
  ) {
    this.kind = kind;
    this.endpoints = endpoints;
    this.members = members;
    this.#teardown = teardown;
  }

  client(opts: { endpoints?: string[] } = {}): Etcd3 {
    if (this.#stopping !== undefined) throw new Error('this etcd cluster has been stopped');
    const client = new Etcd3({
      hosts: [...(opts.endpoints ?? this.endpoints)],
      // Each client gets its own connections, as it would in its own process. grpc-js otherwise
      // shares one subchannel per address across clients, so a new client to a member that just
      // came back inherits an old client's reconnect backoff and fails until it expires.
      grpcOptions: { 'grpc.use_local_subchannel_pool': 1 },
    });
    this.#clients.add(client);
    return client;
  }

  async leader(): Promise<EtcdMember> {
    if (this.members.length === 0) {
      throw new Error(`leader() needs members the harness started; this cluster is '${this.kind}'`);
    }
    const deadline = Date.now() + LEADER_TIMEOUT_MS;
    for (;;) {
      // A paused member cannot answer; asking it would only cost the probe deadline.
      const candidates = this.members.filter((m) => m.running && !m.paused);
      const claims = await Promise.all(
        candidates.map(async (member) => {
          try {
            const status = await probeStatus(member.endpoint, 1_000);
            // int64 fields arrive as decimal strings; '0' means "no leader known".
            return status.leader !== '0' && status.header.member_id === status.leader ? member : undefined;
          } catch {
            return undefined;
          }
        }),
      );
      const leader = claims.find((m) => m !== undefined);
      if (leader !== undefined) return leader;
      if (Date.now() > deadline) {
        throw new Error(
          `no etcd leader among ${candidates.map((m) => m.name).join(', ') || 'no running members'} within ${LEADER_TIMEOUT_MS} ms`,
        );
      }
      await sleep(100);
    }
  }

  async waitHealthy(timeoutMs = HEALTH_TIMEOUT_MS): Promise<void> {
    const targets =
      this.members.length > 0
        ? this.members
            .filter((m) => m.running)
            .map((m) => ({ label: m.paused ? `${m.name} (paused)` : m.name, endpoint: m.endpoint }))
        : this.endpoints.map((endpoint) => ({ label: endpoint, endpoint }));
    const deadline = Date.now() + timeoutMs;
    const failures = await Promise.all(
      targets.map(async ({ label, endpoint }) => {
        for (;;) {
          try {
            await probeRead(endpoint, 1_000);
            return undefined;
          } catch (err) {
            if (Date.now() > deadline) return `${label}: ${err instanceof Error ? err.message : String(err)}`;
          }
          await sleep(100);
        }
      }),
    );
    const unhealthy = failures.filter((f) => f !== undefined);
    if (unhealthy.length > 0) {
      throw new Error(`etcd not healthy within ${timeoutMs} ms:\n  ${unhealthy.join('\n  ')}`);
    }
  }

  async currentRevision(): Promise<bigint> {
    const res = await this.#adminClient().get('etcd-coord-test/revision-probe').exec();
    return BigInt(res.header.revision);
  }

  async compact(revision?: bigint): Promise<bigint> {
    const target = revision ?? (await this.currentRevision());
    try {
      await this.#adminClient().kv.compact({ revision: target.toString(), physical: true });
    } catch (err) {
      // Already compacted at or past `target` (another test compacted the shared etcd): the
      // postcondition "nothing below target remains" holds. etcd3 gives only the gRPC code
      // (OUT_OF_RANGE, shared with "future revision"), so the message tells them apart.
      if (!(err instanceof GRPCOutOfRangeError && /compacted/.test(err.message))) throw err;
    }
    return target;
  }

  async deletePrefix(prefix: string): Promise<void> {
    if (prefix === '')
      throw new RangeError('Expected `prefix` to be non-empty: refusing to delete every key');
    await this.#adminClient().delete().prefix(prefix).exec();
  }

  async restartEmpty(): Promise<void> {
    this.#needMembers('restartEmpty');
    // Clients keep their channels to the dead processes: the admin client is rebuilt on first use.
    this.#resetAdmin();
    await Promise.all(this.members.map((m) => m.killAndWipe({ wipeData: true, clusterState: 'new' })));
    for (const m of this.members) m.spawn();
    // A member of a 3-member cluster serves only once a quorum is up: spawn all, then wait.
    await Promise.all(this.members.map((m) => m.waitServing()));
  }

  async replaceMember(member: EtcdMember): Promise<void> {
    this.#needMembers('replaceMember');
    const target = this.members.find((m) => m === member);
    if (target === undefined) throw new RangeError(`Expected \`member\` to be one of this cluster's members`);
    const others = this.members.filter((m) => m !== target && m.running && !m.paused);
    if (others.length === 0) throw new Error(`replaceMember(${target.name}): no other running member`);
    await target.killAndWipe({ wipeData: true, clusterState: 'existing' });
    const client = this.client({ endpoints: others.map((m) => m.endpoint) });
    try {
      const deadline = Date.now() + HEALTH_TIMEOUT_MS;
      // Membership changes need a leader and are refused for a while after a leader change:
      // retried (each step is idempotent by its check) until the health deadline.
      for (;;) {
        try {
          const { members } = await client.cluster.memberList({}, { deadline: Date.now() + 2_000 });
          const old = members.find((m) => m.peerURLs.includes(target.peerUrl));
          if (old !== undefined && old.name !== '') {
            await client.cluster.memberRemove({ ID: old.ID }, { deadline: Date.now() + 2_000 });
            continue;
          }
          if (old === undefined) {
            await client.cluster.memberAdd({ peerURLs: [target.peerUrl] }, { deadline: Date.now() + 2_000 });
          }
          break;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`replaceMember(${target.name}) failed`, { cause: err });
          await sleep(200);
        }
      }
    } finally {
      client.close();
      this.#clients.delete(client);
    }
    target.spawn();
    await target.waitServing();
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      for (const client of this.#clients) client.close();
      this.#clients.clear();
      await this.#teardown();
    })();
    return this.#stopping;
  }

  #needMembers(what: string): void {
    if (this.members.length === 0) {
      throw new Error(`${what}() needs members the harness started; this cluster is '${this.kind}'`);
    }
  }

  #resetAdmin(): void {
    if (this.#admin === undefined) return;
    this.#admin.close();
    this.#clients.delete(this.#admin);
    this.#admin = undefined;
  }

  #adminClient(): Etcd3 {
    this.#admin ??= this.client();
    return this.#admin;
  }
}
