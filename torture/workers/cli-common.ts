/**
 * CLI supervisor workers (issue 14): each runs `etcd-coord lock|elect|once … --ttl 2 -- <child>` in a
 * loop through its own fault proxies, with a child that ignores SIGTERM and stamps its life into the
 * worker's history (`child-start`, `child-alive` every 100 ms, `child-exit`), so the checker can tell
 * whether two holders' children ever ran at the same time. SIGKILL leaves no exit stamp: the last
 * `child-alive` is (within one beat) when it died.
 *
 * With TORTURE_UNGUARDED=1 (the negative control) the CLI runs with ETCD_COORD_UNSAFE_FLAG_ONLY_KILL=1:
 * no lease-scheduled escalation, no lock-delay, SIGKILL only 5 s after the loss.
 *
 * History: `cli-run` {run, command, exitCode}; `child-*` {run, command, group, token} (written by the child).
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pause, runWorker } from './common.js';

export type CliCommand = 'lock' | 'elect' | 'once';

const CLI_MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** What each command holds: all workers of one command contend for it. */
function holdArgs(command: CliCommand): string[] {
  if (command === 'lock') return ['lock', 'cli/lock', '--timeout', '10s'];
  if (command === 'elect') return ['elect', 'cli/leader', '--timeout', '10s'];
  // A slot every 5 s: the workers of `once` meet in each slot; a crashed run is re-run in the same slot.
  return ['once', 'cli-job', '--every', '5s', '--timeout', '10s'];
}

/** The child: ignores SIGTERM, stamps its life as history lines, runs HOLD_MS unless killed. */
const STAMPER = `trap '' TERM
g="\${ETCD_COORD_ONCE_SLOT:-all}"
s() { t=$(date +%s%3N); printf '{"worker":"%s","op":"child-%s","start":%s,"end":%s,"outcome":"ok","details":{"run":"%s","command":"%s","group":"%s","token":"%s"}}\\n' "$TORTURE_WORKER" "$1" "$t" "$t" "$CLI_RUN" "$CLI_COMMAND" "$g" "$ETCD_COORD_FENCING_TOKEN" >> "$TORTURE_HISTORY"; }
s start
end=$(( $(date +%s%3N) + HOLD_MS ))
while [ "$(date +%s%3N)" -lt "$end" ]; do sleep 0.1; s alive; done
s exit`;

/** Runs the CLI once; resolves with its exit code (and the tail of its stderr). SIGTERMs it on `stop`. */
function runCli(
  args: string[],
  env: Record<string, string>,
  stop: AbortSignal,
): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', TSX, CLI_MAIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr = (stderr + t).slice(-400)));
    const onStop = (): void => void child.kill('SIGTERM');
    stop.addEventListener('abort', onStop, { once: true });
    child.once('exit', (code, signal) => {
      stop.removeEventListener('abort', onStop);
      resolve({ code: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), stderr });
    });
    child.once('error', (err) => resolve({ code: -1, stderr: String(err) }));
  });
}

/** The worker loop for `command`. */
export async function runCliWorker(command: CliCommand): Promise<void> {
  await runWorker(async (w) => {
    const endpoints = process.env['TORTURE_ENDPOINTS'] ?? '';
    const namespace = process.env['TORTURE_NAMESPACE'] ?? '';
    let run = 0;
    let current: Promise<unknown> = Promise.resolve();
    // On SIGTERM the running CLI is told too (w.stopping): wait for it, so none outlives the campaign.
    w.onStop(() => current.then(() => undefined));
    while (!w.quiesce.aborted) {
      const id = `${w.name}#${++run}`;
      const holdMs = w.rng.int(500, 5000);
      const args = ['--endpoints', endpoints, '--namespace', namespace, ...holdArgs(command), '--ttl', '2'];
      const env: Record<string, string> = {
        CLI_RUN: id,
        CLI_COMMAND: command,
        HOLD_MS: String(holdMs),
        ...(w.unguarded ? { ETCD_COORD_UNSAFE_FLAG_ONLY_KILL: '1' } : {}),
      };
      current = w.record(
        'cli-run',
        { run: id, command, holdMs },
        () => runCli([...args, '--', 'sh', '-c', STAMPER], env, w.stopping),
        (r) => ({ exitCode: r.code, ...(r.code === 0 || r.code === 80 ? {} : { stderr: r.stderr }) }),
      );
      await current;
      await pause(w.rng.int(50, 300), w.quiesce);
    }
  });
}
