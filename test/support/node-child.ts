/**
 * Runs a TypeScript worker script as a separate Node process, for tests that need a client
 * process to crash, be SIGSTOPped or be killed -9.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { exitOf, isAlive, killNow, track } from './reaper.js';

const STOP_GRACE_MS = 5_000;
const STDERR_KEEP_CHARS = 16_384;

/** How a child ended: its exit code, or the signal that killed it. */
export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A worker process started by {@link spawnNode}. */
export interface ChildHandle {
  /** The PID of the worker itself (not of a launcher wrapper), so signals reach the script. */
  readonly pid: number;
  /** Resolves once the process has exited. */
  readonly exited: Promise<ChildExit>;
  /** Every stdout line so far, then each new one, until the process exits; each iteration starts from the first line. */
  readonly lines: AsyncIterable<string>;
  /** Every stdout line seen so far. */
  readonly output: readonly string[];
  /** The last 16 KiB of stderr, for failure messages. */
  stderr(): string;
  /** Resolves with the first stdout line (past or future) that matches; rejects if the process exits first or after `timeoutMs`. */
  waitForLine(match: RegExp | ((line: string) => boolean), timeoutMs?: number): Promise<string>;
  /** Sends a signal by PID (default SIGKILL) if the process is still running. */
  kill(signal?: NodeJS.Signals): void;
  /** SIGSTOP. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** SIGCONT + SIGTERM, SIGKILL after 5 s; resolves with how it exited. Idempotent. */
  stop(): Promise<ChildExit>;
}

/** The tsx loader, resolved from this project so the child does not depend on its cwd. */
function tsxLoaderUrl(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
}

/**
 * Starts `node --import tsx <script> ...args`. Not `node_modules/.bin/tsx`: that CLI runs the
 * script in a second process, so SIGSTOP or SIGKILL would hit the wrapper, not the worker.
 *
 * @example
 * const worker = spawnNode('test/faults/workers/hold-lock.ts', ['jobs/a'], { env: { ETCD_ENDPOINTS } });
 * await worker.waitForLine(/^locked/);
 * worker.kill('SIGKILL');
 *
 * Failure modes: the child is tracked and SIGKILLed by the harness's exit handler if the test
 * process dies first; stdout is always drained so a chatty child never blocks on a full pipe.
 */
export function spawnNode(
  script: string,
  args: string[],
  opts: { env?: Record<string, string> } = {},
): ChildHandle {
  const child = spawn(process.execPath, ['--import', tsxLoaderUrl(), script, ...args], {
    detached: false,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  const exited = exitOf(child);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not spawn ${process.execPath} for ${script}`);

  const output: string[] = [];
  // Readers waiting for the next line or the end; each is woken once and then forgotten.
  let wake: Array<() => void> = [];
  const notify = (): void => {
    const waiting = wake;
    wake = [];
    for (const resolve of waiting) resolve();
  };
  createInterface({ input: child.stdout }).on('line', (line) => {
    output.push(line);
    notify();
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_KEEP_CHARS);
  });
  let ended = false;
  void exited.then(() => {
    ended = true;
    notify();
  });

  async function* lines(): AsyncGenerator<string> {
    let next = 0;
    for (;;) {
      while (next < output.length) yield output[next++] as string;
      if (ended) return;
      await new Promise<void>((resolve) => wake.push(resolve));
    }
  }

  let stopping: Promise<ChildExit> | undefined;
  const handle: ChildHandle = {
    pid,
    exited,
    lines: { [Symbol.asyncIterator]: lines },
    output,
    stderr: () => stderr,
    async waitForLine(match, timeoutMs = 10_000) {
      const test = typeof match === 'function' ? match : (line: string) => match.test(line);
      const deadline = Date.now() + timeoutMs;
      let next = 0;
      for (;;) {
        while (next < output.length) {
          const line = output[next++] as string;
          if (test(line)) return line;
        }
        if (ended) throw new Error(`${script} exited before printing a matching line; stderr:\n${stderr}`);
        const left = deadline - Date.now();
        if (left <= 0)
          throw new Error(`no matching line from ${script} within ${timeoutMs} ms; stderr:\n${stderr}`);
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          timer = setTimeout(resolve, left);
          wake.push(resolve);
        });
        clearTimeout(timer);
      }
    },
    kill(signal = 'SIGKILL') {
      killNow(child, signal);
    },
    pause() {
      killNow(child, 'SIGSTOP');
    },
    resume() {
      killNow(child, 'SIGCONT');
    },
    stop() {
      stopping ??= (async () => {
        if (isAlive(child)) {
          killNow(child, 'SIGCONT'); // a stopped process keeps SIGTERM pending until continued
          killNow(child, 'SIGTERM');
          const timer = setTimeout(() => killNow(child, 'SIGKILL'), STOP_GRACE_MS);
          try {
            return await exited;
          } finally {
            clearTimeout(timer);
          }
        }
        return exited;
      })();
      return stopping;
    },
  };
  return handle;
}
