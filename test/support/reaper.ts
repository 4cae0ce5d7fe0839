/**
 * Process hygiene for the test harness: every child process the harness spawns (etcd members,
 * worker scripts) is recorded here, and ONE `process.on('exit')` handler per Node process
 * SIGKILLs whatever is still running and removes the temp dirs still registered, so a crashed
 * test run leaves nothing behind.
 *
 * @module
 */
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

/** Shared across module instances: vitest may evaluate this module more than once per process. */
const REGISTRY = Symbol.for('etcd-coord.test.reaper');

interface Registry {
  readonly live: Set<ChildProcess>;
  readonly dirs: Set<string>;
}

function registry(): Registry {
  const holder = globalThis as typeof globalThis & { [REGISTRY]?: Registry };
  let reg = holder[REGISTRY];
  if (reg === undefined) {
    const created: Registry = { live: new Set(), dirs: new Set() };
    // 'exit' handlers must be synchronous: process.kill and rmSync are, SIGKILL needs no follow-up.
    process.on('exit', () => {
      for (const child of created.live) killNow(child, 'SIGKILL');
      for (const dir of created.dirs) {
        try {
          rmSync(dir, { recursive: true, force: true });
        } catch {
          // best effort: it is under the OS temp dir
        }
      }
    });
    holder[REGISTRY] = created;
    reg = created;
  }
  return reg;
}

/** True while the child has neither exited nor been killed by a signal (as far as Node knows). */
export function isAlive(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

/**
 * Sends `signal` to the child by PID if it is still alive; never throws.
 *
 * @returns whether the signal was delivered.
 */
export function killNow(child: ChildProcess, signal: NodeJS.Signals): boolean {
  if (!isAlive(child) || child.pid === undefined) return false;
  try {
    process.kill(child.pid, signal);
    return true;
  } catch {
    return false; // ESRCH: it exited between the check and the kill
  }
}

/**
 * Records a spawned child so the exit handler can kill it; forgets it once it has exited.
 *
 * @example
 * const child = spawn('etcd', args);
 * track(child);
 */
export function track(child: ChildProcess): void {
  const { live } = registry();
  live.add(child);
  const forget = (): void => {
    live.delete(child);
  };
  child.once('exit', forget);
  child.once('error', () => {
    if (!isAlive(child)) forget(); // spawn failure (ENOENT): no 'exit' will follow
  });
}

/**
 * A promise for the child's exit, created before any signal is sent so it cannot be missed.
 * Resolves on 'exit', or on a spawn 'error' after which the child never ran.
 */
export function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => {
      if (child.pid === undefined) resolve({ code: null, signal: null });
    });
  });
}

/**
 * Registers a temp dir for removal at process exit, unless {@link forgetDir} is called first
 * (after the owner removed it itself).
 */
export function trackDir(dir: string): void {
  registry().dirs.add(dir);
}

/** Unregisters a dir passed to {@link trackDir}. */
export function forgetDir(dir: string): void {
  registry().dirs.delete(dir);
}
