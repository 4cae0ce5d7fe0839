/**
 * One etcd process spawned from the binary: start, kill -9, SIGTERM, SIGSTOP/SIGCONT and restart on
 * the same ports and data dir. Used by {@link startEtcd}; tests see it as an {@link EtcdMember}.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EtcdMember } from './etcd.js';
import { probeRead } from './probe.js';
import { exitOf, isAlive, killNow, track } from './reaper.js';

/** How long a member gets to answer a linearizable read after being spawned. */
export const START_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;
const LOG_TAIL_LINES = 30;

/** Startup failed; `portInUse` tells the launcher that retrying on fresh ports may help. */
export class MemberStartError extends Error {
  constructor(
    message: string,
    readonly portInUse: boolean,
  ) {
    super(message);
    this.name = 'MemberStartError';
  }
}

/** Where a member lives and how it is launched. */
export interface MemberSpec {
  readonly bin: string;
  readonly name: string;
  readonly endpoint: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** The complete etcd command line (without the binary). */
  readonly args: readonly string[];
}

/** Options of {@link BinaryMember.restart}. */
export interface RestartOptions {
  /** Remove the data dir first: the member starts with no keys, revisions and raft log. */
  wipeData?: boolean;
  /**
   * How an empty member joins: `'new'` bootstraps a cluster (every member must start empty), `'existing'`
   * joins a running cluster after `memberAdd` (see `Cluster.replaceMember`).
   */
  clusterState?: 'new' | 'existing';
}

/** A spawned etcd member; see {@link EtcdMember} for the contract of each method. */
export class BinaryMember implements EtcdMember {
  readonly name: string;
  readonly endpoint: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly #spec: MemberSpec;
  /** The command line; `restart({ clusterState })` rewrites its `--initial-cluster-state`. */
  #args: string[];
  #child: ChildProcess | undefined;
  #exit: Promise<unknown> = Promise.resolve();
  #paused = false;
  #spawnError: Error | undefined;

  constructor(spec: MemberSpec) {
    this.#spec = spec;
    this.#args = [...spec.args];
    this.name = spec.name;
    this.endpoint = spec.endpoint;
    this.peerUrl = spec.peerUrl;
    this.dataDir = spec.dataDir;
    this.logFile = spec.logFile;
  }

  get pid(): number | undefined {
    return this.running ? this.#child?.pid : undefined;
  }

  get running(): boolean {
    return this.#child !== undefined && isAlive(this.#child);
  }

  /** True between {@link pause} and {@link resume} (or until the process dies). */
  get paused(): boolean {
    return this.#paused && this.running;
  }

  /** Spawns the process without waiting for it to serve; see {@link waitServing}. */
  spawn(): void {
    if (this.running) throw new Error(`etcd member ${this.name} is already running (pid ${this.pid})`);
    // stdout and stderr go to a file, not a pipe: a pipe nobody drains would block etcd.
    const log = openSync(this.logFile, 'a');
    try {
      writeSync(log, `--- ${new Date().toISOString()} starting ${this.#spec.bin} ${this.#args.join(' ')}\n`);
      const child = spawn(this.#spec.bin, this.#args, { detached: false, stdio: ['ignore', log, log] });
      track(child);
      child.once('error', (err) => {
        this.#spawnError = err; // e.g. ENOENT/EACCES: reported by waitServing
      });
      this.#child = child;
      this.#spawnError = undefined;
      this.#exit = exitOf(child);
      this.#paused = false;
    } finally {
      closeSync(log); // the child holds its own copy of the descriptor
    }
  }

  /**
   * Resolves once this member answers a linearizable read; rejects with the log tail if the
   * process exits first or `timeoutMs` passes.
   */
  async waitServing(timeoutMs = START_TIMEOUT_MS): Promise<void> {
    const started = Date.now();
    let lastError: unknown;
    for (;;) {
      let answered = false;
      try {
        await probeRead(this.endpoint, 1_000);
        answered = true;
      } catch (err) {
        lastError = err;
      }
      // Checked after the probe: a spawn 'error' (ENOENT) is emitted asynchronously, and an
      // answer only counts if it came from our process, not from whoever else holds the port.
      const child = this.#child;
      if (child === undefined || !isAlive(child)) {
        if (this.#spawnError !== undefined) {
          throw new MemberStartError(`cannot run ${this.#spec.bin}: ${this.#spawnError.message}`, false);
        }
        const how = child?.signalCode ?? `code ${String(child?.exitCode ?? 'unknown')}`;
        throw this.#startError(`etcd member ${this.name} exited (${how}) during startup`);
      }
      if (answered) return;
      if (Date.now() - started > timeoutMs) {
        const reason = lastError instanceof Error ? lastError.message : String(lastError);
        throw this.#startError(
          `etcd member ${this.name} did not serve within ${timeoutMs} ms (last probe: ${reason})`,
        );
      }
      await sleep(100);
    }
  }

  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    killNow(child, 'SIGKILL'); // also ends a SIGSTOPped process, no SIGCONT needed
    await this.#exit;
    this.#paused = false;
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined || !isAlive(child)) return;
    // A stopped process keeps SIGTERM pending until it is continued.
    if (this.#paused) killNow(child, 'SIGCONT');
    killNow(child, 'SIGTERM');
    const timer = setTimeout(() => killNow(child, 'SIGKILL'), STOP_GRACE_MS);
    try {
      await this.#exit;
    } finally {
      clearTimeout(timer);
      this.#paused = false;
    }
  }

  async restart(opts: RestartOptions = {}): Promise<void> {
    await this.killAndWipe(opts);
    this.spawn();
    await this.waitServing();
  }

  /**
   * The first half of {@link restart}: kill, optionally wipe the data dir, and set how the next
   * {@link spawn} joins. A whole cluster restarted empty needs every member spawned before any serves.
   */
  async killAndWipe(opts: RestartOptions = {}): Promise<void> {
    if (this.running) await this.kill();
    if (opts.wipeData === true) await rm(this.dataDir, { recursive: true, force: true });
    if (opts.clusterState !== undefined) {
      // Only read by etcd when the data dir is empty: a member with data rejoins what it knows.
      this.#args = this.#args.map((a) =>
        a.startsWith('--initial-cluster-state=') ? `--initial-cluster-state=${opts.clusterState}` : a,
      );
    }
  }

  pause(): void {
    const child = this.#child;
    if (child === undefined || !killNow(child, 'SIGSTOP')) {
      throw new Error(`cannot pause etcd member ${this.name}: it is not running`);
    }
    this.#paused = true;
    // SIGSTOP takes effect when the kernel next schedules the process: on a loaded machine etcd could still
    // answer a request sent right after pause(). Return only once every thread is stopped.
    if (child.pid !== undefined) waitStopped(child.pid);
  }

  resume(): void {
    const child = this.#child;
    if (child === undefined || !killNow(child, 'SIGCONT')) {
      throw new Error(`cannot resume etcd member ${this.name}: it is not running`);
    }
    this.#paused = false;
  }

  /** The last `lines` lines of this member's log file (stdout and stderr of every start). */
  logTail(lines = LOG_TAIL_LINES): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  #startError(message: string): MemberStartError {
    const tail = this.logTail();
    return new MemberStartError(
      `${message}\n--- last ${LOG_TAIL_LINES} lines of ${this.logFile} ---\n${tail}`,
      /address already in use/.test(tail),
    );
  }
}

/** Spins (at most ~500 ms) until every thread of `pid` is in the stopped state (`T` in /proc). */
function waitStopped(pid: number): void {
  const until = Date.now() + 500;
  while (Date.now() < until) {
    let running = false;
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        if (state !== 'T' && state !== 't') running = true;
      }
    } catch {
      return; // no /proc (not Linux) or the process is gone: nothing to wait for
    }
    if (!running) return;
  }
}
