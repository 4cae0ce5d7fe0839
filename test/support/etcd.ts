/**
 * A real etcd for tests, examples and benchmarks (DESIGN.md, "A real etcd, everywhere"), in this
 * order of preference: `ETCD_ENDPOINTS`, an `etcd` binary (throwaway members on free loopback
 * ports), a Docker engine (testcontainers), else one clear {@link EtcdUnavailableError}.
 *
 * @example
 * const cluster = await startEtcd({ members: 3 });
 * try {
 *   const leader = await cluster.leader();
 *   await leader.kill();
 *   await cluster.client().put('k').value('v');
 * } finally {
 *   await cluster.stop();
 * }
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { Cluster } from './etcd-cluster.js';
import { BinaryMember, MemberStartError } from './etcd-member.js';
import { freePorts } from './probe.js';
import { forgetDir, trackDir } from './reaper.js';

/** One etcd process started by the harness. */
export interface EtcdMember {
  /** 'm0', 'm1', 'm2'. */
  readonly name: string;
  /** Client address '127.0.0.1:PORT' (no scheme). */
  readonly endpoint: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  /** The process id while running (also while paused); undefined while stopped. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** True between pause() and resume(). */
  readonly paused: boolean;
  /** SIGKILL by PID; resolves once the process has exited. */
  kill(): Promise<void>;
  /** SIGTERM (after SIGCONT if paused), then SIGKILL after 5 s; resolves once exited. */
  stop(): Promise<void>;
  /**
   * Starts again with the same ports and data dir (killing it first if running) and resolves
   * once it answers a linearizable read. `wipeData` removes the data dir first: only meaningful
   * on a single node ("etcd restarted without its data"); a wiped member of a 3-member cluster
   * cannot rejoin under the old cluster id: use {@link EtcdCluster.replaceMember} or
   * {@link EtcdCluster.restartEmpty} there.
   */
  restart(opts?: { wipeData?: boolean }): Promise<void>;
  /** SIGSTOP: the process keeps its sockets but answers nothing. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
}

/** A running etcd (or a reference to an external one) and the tools to hurt it. */
export interface EtcdCluster {
  readonly kind: 'external' | 'binary' | 'container';
  /** The processes the harness started; empty for 'external' and 'container'. */
  readonly members: readonly EtcdMember[];
  /** Client endpoints 'host:port'. */
  readonly endpoints: string[];
  /** A fresh etcd3 client (default options) on `endpoints`; closed by stop(). */
  client(opts?: { endpoints?: string[] }): Etcd3;
  /** The member that reports itself raft leader; retries for up to 10 s. */
  leader(): Promise<EtcdMember>;
  /** Resolves when every running member (or endpoint) answers a linearizable read. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /**
   * Compacts at `revision` (default: the current one) with `physical: true` and returns it.
   * A revision already compacted is not an error: the store is compacted at least that far.
   */
  compact(revision?: bigint): Promise<bigint>;
  currentRevision(): Promise<bigint>;
  /** Deletes every key under a non-empty prefix. */
  deletePrefix(prefix: string): Promise<void>;
  /**
   * Kills every member, wipes every data dir and starts them again on the same ports: no keys, revisions
   * and raft terms start over — "etcd lost its data". The cluster and member ids stay the same (etcd
   * derives them from the peer URLs and the cluster token), so a client cannot tell the stores apart by id.
   */
  restartEmpty(): Promise<void>;
  /**
   * Replaces one member by an empty one on the same ports: kill, `memberRemove`, wipe, `memberAdd`,
   * start with `--initial-cluster-state=existing`. The cluster keeps its data (the new member copies
   * it from the leader); the member's id changes.
   */
  replaceMember(member: EtcdMember): Promise<void>;
  /** Kills every process it started (by PID), removes temp dirs, closes clients; idempotent. */
  stop(): Promise<void>;
}

/** Options for {@link startEtcd}. */
export interface StartEtcdOptions {
  /** Default 1. A 3-member cluster needs the etcd binary. */
  members?: 1 | 3;
  /** Passed as `--auto-compaction-retention` (periodic mode, e.g. '1s' or '1'). */
  autoCompactionRetention?: string;
  /** Appended to every member's command line (binary and container). */
  extraArgs?: string[];
  /** Default true: use `ETCD_ENDPOINTS` when set and `members` is 1. Pass false to get killable processes. */
  useExternal?: boolean;
}

/** Thrown by {@link startEtcd} when no etcd can be had at all; the message says how to get one. */
export class EtcdUnavailableError extends Error {
  readonly code = 'ETCD_UNAVAILABLE';
  constructor(detail?: string) {
    super(
      [
        'No etcd available for the tests.' + (detail === undefined ? '' : ` ${detail}`),
        'Get one of these:',
        '  1. an existing cluster: export ETCD_ENDPOINTS=127.0.0.1:2379 (comma-separated list)',
        '  2. the etcd binary on PATH: apt-get install -y etcd-server etcd-client (Debian/Ubuntu),',
        '     brew install etcd (macOS), or export ETCD_BIN=/path/to/etcd',
        '  3. a running Docker engine (testcontainers starts etcd; single node only)',
      ].join('\n'),
    );
    this.name = 'EtcdUnavailableError';
  }
}

const START_ATTEMPTS = 3;

/**
 * Starts (or connects to) an etcd for a test.
 *
 * @throws {EtcdUnavailableError} when there is no `ETCD_ENDPOINTS`, no binary and no Docker, or a
 *   3-member cluster is asked for without the binary.
 * @throws {Error} with the last 30 log lines of the failing member if a spawned etcd does not
 *   serve within 15 s or exits during startup.
 *
 * Failure modes: ports are chosen free but can be taken before etcd binds them; the start is then
 * retried on new ports (3 attempts). An unreachable `ETCD_ENDPOINTS` fails within 5 s.
 */
export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdCluster> {
  const members = opts.members ?? 1;
  const external = externalEndpoints();
  if (external !== undefined && opts.useExternal !== false && members === 1) {
    const cluster = new Cluster('external', external, [], async () => {});
    try {
      await cluster.waitHealthy(5_000);
    } catch (err) {
      await cluster.stop();
      throw new Error(`ETCD_ENDPOINTS=${process.env['ETCD_ENDPOINTS']} is set but not usable`, {
        cause: err,
      });
    }
    return cluster;
  }
  const bin = etcdBinary();
  if (bin !== undefined) return startBinary(bin, members, opts);
  if (members !== 1) {
    throw new EtcdUnavailableError(
      'A 3-member cluster needs the etcd binary (kill/pause act on its processes).',
    );
  }
  if (await dockerAvailable()) {
    const { startContainer } = await import('./etcd-container.js');
    return startContainer();
  }
  throw new EtcdUnavailableError();
}

/** `ETCD_BIN` if set, else the first executable `etcd` on PATH, else undefined. */
export function etcdBinary(): string | undefined {
  const explicit = process.env['ETCD_BIN'];
  if (explicit !== undefined && explicit !== '') return explicit; // a wrong path fails loudly at spawn
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'etcd');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Whether testcontainers can reach a container runtime (answers within ~3 s). */
export async function dockerAvailable(): Promise<boolean> {
  try {
    const { containerRuntimeReachable } = await import('./etcd-container.js');
    return await containerRuntimeReachable(3_000);
  } catch {
    return false; // testcontainers missing or broken: no Docker path
  }
}

function externalEndpoints(): string[] | undefined {
  const raw = process.env['ETCD_ENDPOINTS'];
  if (raw === undefined || raw.trim() === '') return undefined;
  // The harness speaks 'host:port'; etcd3 would also accept http://, but keep one form.
  return raw
    .split(',')
    .map((e) => e.trim().replace(/^http:\/\//, ''))
    .filter((e) => e !== '');
}

async function startBinary(bin: string, count: 1 | 3, opts: StartEtcdOptions): Promise<Cluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startBinaryOnce(bin, count, opts);
    } catch (err) {
      if (!(err instanceof MemberStartError && err.portInUse && attempt < START_ATTEMPTS)) throw err;
    }
  }
}

async function startBinaryOnce(bin: string, count: 1 | 3, opts: StartEtcdOptions): Promise<Cluster> {
  const root = await mkdtemp(join(tmpdir(), 'etcd-coord-'));
  trackDir(root);
  const ports = await freePorts(count * 2);
  const names = Array.from({ length: count }, (_, i) => `m${i}`);
  const peerUrl = (i: number): string => `http://127.0.0.1:${ports[count + i]}`;
  const initialCluster = names.map((name, i) => `${name}=${peerUrl(i)}`).join(',');
  const token = `etcd-coord-${randomBytes(6).toString('hex')}`;
  const members = await Promise.all(
    names.map(async (name, i) => {
      const dir = join(root, name);
      await mkdir(dir);
      const clientUrl = `http://127.0.0.1:${ports[i]}`;
      return new BinaryMember({
        bin,
        name,
        endpoint: `127.0.0.1:${ports[i]}`,
        peerUrl: peerUrl(i),
        dataDir: join(dir, 'data'),
        logFile: join(dir, 'etcd.log'),
        args: [
          `--name=${name}`,
          `--data-dir=${join(dir, 'data')}`,
          `--listen-client-urls=${clientUrl}`,
          `--advertise-client-urls=${clientUrl}`,
          `--listen-peer-urls=${peerUrl(i)}`,
          `--initial-advertise-peer-urls=${peerUrl(i)}`,
          `--initial-cluster=${initialCluster}`,
          '--initial-cluster-state=new',
          `--initial-cluster-token=${token}`,
          // Fast elections on loopback: a killed leader is replaced in about a second.
          '--heartbeat-interval=50',
          '--election-timeout=500',
          // etcd 3.4 defaults to the deprecated capnslog logger; zap honours --log-level.
          '--logger=zap',
          '--log-outputs=stderr',
          '--log-level=error',
          ...(opts.autoCompactionRetention === undefined
            ? []
            : [`--auto-compaction-retention=${opts.autoCompactionRetention}`]),
          ...(opts.extraArgs ?? []),
        ],
      });
    }),
  );
  const teardown = async (): Promise<void> => {
    // Throwaway data: SIGKILL is fastest, and a clean shutdown would only move leadership around.
    await Promise.all(members.map((m) => m.kill()));
    await rm(root, { recursive: true, force: true });
    forgetDir(root);
  };
  try {
    for (const member of members) member.spawn();
    // All members first, then wait: a member of a 3-node cluster serves only once a quorum is up.
    await Promise.all(members.map((m) => m.waitServing()));
  } catch (err) {
    await teardown();
    throw err;
  }
  return new Cluster(
    'binary',
    members.map((m) => m.endpoint),
    members,
    teardown,
  );
}
