/**
 * Runs the `etcd-coord` CLI as a real process for the CLI tests: the BUILT binary (`cli/main.js` compiled
 * by `tsc -p tsconfig.build.json`), as users run it. {@link useCli} builds it once per source state into
 * `node_modules/.cache/etcd-coord-cli/<hash of src>/` (atomic rename, a lock directory against concurrent
 * builds by parallel test files), so it is never stale and `dist/` is never written by tests.
 * `ETCD_COORD_CLI=src` runs the TypeScript entry through tsx instead; `ETCD_COORD_CLI=dist` runs `dist/`.
 *
 * @module
 */
import { spawn, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll } from 'vitest';
import { spawnNode, type ChildHandle } from '../support/shared.js';
import { exitOf, track } from '../support/reaper.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BUILD_TIMEOUT_MS = 240_000;
let entry: string | undefined;

function sourceHash(): string {
  const hash = createHash('sha256');
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts')) hash.update(path).update(readFileSync(path));
    }
  };
  walk(join(ROOT, 'src'));
  for (const f of ['tsconfig.json', 'tsconfig.build.json', 'package.json'])
    hash.update(readFileSync(join(ROOT, f)));
  return hash.digest('hex').slice(0, 16);
}

/** Builds the CLI for the current sources unless that build exists; returns the path of its main.js. */
async function ensureBuilt(): Promise<string> {
  const cache = join(ROOT, 'node_modules', '.cache', 'etcd-coord-cli');
  const dir = join(cache, sourceHash());
  const main = join(dir, 'cli', 'main.js');
  const lock = `${dir}.lock`;
  await mkdir(cache, { recursive: true });
  const deadline = Date.now() + BUILD_TIMEOUT_MS;
  while (!existsSync(main)) {
    try {
      await mkdir(lock);
    } catch {
      // Another test file is building it: wait, unless its lock is stale (a crashed build).
      const age = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > BUILD_TIMEOUT_MS) await rm(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`the CLI build in ${dir} did not finish`);
      await new Promise((r) => setTimeout(r, 250));
      continue;
    }
    try {
      if (existsSync(main)) break;
      const tmp = `${dir}.tmp-${process.pid}`;
      await rm(tmp, { recursive: true, force: true });
      const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
      // Type errors elsewhere in the tree (work in progress) do not stop tsc from emitting.
      await promisify(execFile)(
        process.execPath,
        [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', tmp],
        { cwd: ROOT },
      ).catch(() => undefined);
      if (!existsSync(join(tmp, 'cli', 'main.js'))) throw new Error('tsc did not emit cli/main.js');
      await rename(tmp, dir);
      await pruneOldBuilds(cache, dir);
    } finally {
      await rm(lock, { recursive: true, force: true });
    }
  }
  return main;
}

/** Removes builds of older sources (not touched for 30 min) so the cache does not grow for ever. */
async function pruneOldBuilds(cache: string, keep: string): Promise<void> {
  for (const name of readdirSync(cache)) {
    const path = join(cache, name);
    if (path === keep || name.endsWith('.lock')) continue;
    const age = await stat(path).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age > 30 * 60_000) await rm(path, { recursive: true, force: true });
  }
}

/** Makes the CLI available to the suite's tests (builds it in `beforeAll` when needed). */
export function useCli(): void {
  beforeAll(async () => {
    const mode = process.env.ETCD_COORD_CLI;
    if (mode === 'src') entry = join(ROOT, 'src', 'cli', 'main.ts');
    else if (mode === 'dist') entry = join(ROOT, 'dist', 'cli', 'main.js');
    else entry = await ensureBuilt();
  }, BUILD_TIMEOUT_MS);
}

/** The path of the CLI entry the tests run (`…/cli/main.js`, or `src/cli/main.ts` with ETCD_COORD_CLI=src). */
export function cliEntry(): string {
  if (entry === undefined) throw new Error('call useCli() in the describe block first');
  return entry;
}

/** Env for CLI children: no inherited etcd settings, so each test says exactly what it means. */
export function cliEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ETCD_ENDPOINTS: '',
    ETCDCTL_ENDPOINTS: '',
    ETCD_USER: '',
    ETCD_PASSWORD: '',
    ETCD_COORD_DEBUG: '',
    ...extra,
  };
}

/** Starts the CLI (tracked by the harness; stop it by PID with `handle.stop()` / `handle.kill()`). */
export function startCli(args: string[], env: Record<string, string> = {}): ChildHandle {
  return spawnNode(cliEntry(), args, { env: cliEnv(env) });
}

/** What a finished CLI run produced. */
export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string[];
  stderr: string;
}

/** Runs the CLI to completion. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const child = startCli(args, env);
  const exit = await child.exited;
  // Let the line reader deliver the last lines.
  await new Promise((r) => setImmediate(r));
  return { code: exit.code, signal: exit.signal, stdout: [...child.output], stderr: child.stderr() };
}

/** The CLI as an argv (`node <main.js>`), for shell loops that call it themselves. */
export function cliArgv(): string[] {
  const main = cliEntry();
  if (!main.endsWith('.ts')) return [process.execPath, main];
  return [
    process.execPath,
    '--import',
    pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href,
    main,
  ];
}

/** Single-quotes a word for sh. */
export function shq(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Runs `sh -c script` (tracked; killed by the harness if the test process dies). */
export async function runSh(
  script: string,
  env: Record<string, string> = {},
): Promise<{ code: number | null; output: string }> {
  const child = spawn('sh', ['-c', script], {
    env: { ...process.env, ...cliEnv(env) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (t: string) => (output += t));
  child.stderr.setEncoding('utf8').on('data', (t: string) => (output += t));
  const exit = await exitOf(child);
  return { code: exit.code, output };
}
