/**
 * The package as a first user gets it: `npm pack` of this checkout, installed from the tarball into a
 * fresh app, then `import` (ESM) and `require` (CommonJS, Node's require(esm) from 20.19) each connect to
 * the shared etcd and take one lock. One install serves both: the app root is CommonJS and `esm/` below
 * it has `"type": "module"`, so both resolve the same `node_modules/etcd-coord`.
 *
 * The tarball is packed from a staging copy (package.json, README.md, LICENSE and the CLI tests' cached
 * `tsc -p tsconfig.build.json` output as dist/), with `--ignore-scripts`: `prepare` would rebuild into
 * this checkout's dist/, which tests never write.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEntry, useCli } from '../cli/cli-helper.js';
import { sharedEndpoints, uniquePrefix } from '../support/shared.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const run = promisify(execFile);
const INSTALL_TIMEOUT_MS = 180_000;

/** The environment without npm's own `npm_*` settings, which `npx vitest` would pass down to the child npm. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  return { ...env, ...extra };
}

/** What each app does: connect, lock, print `{ kind, token, key }` as JSON, unlock, close. */
const body = (kind: string): string => `
  const coord = await connect({ endpoints: process.env.ETCD_ENDPOINTS.split(','), namespace: process.env.NS });
  try {
    const lock = await coord.mutex('pkg').lock({ timeoutMs: 10000 });
    console.log(JSON.stringify({ kind: '${kind}', token: String(lock.fencingToken), key: lock.key }));
    await lock.unlock();
  } finally {
    await coord.close();
  }
`;
const CJS = `'use strict';
const { connect } = require('etcd-coord');
(async () => {${body('cjs')}})().catch((err) => { console.error(err); process.exit(1); });
`;
const ESM = `import { connect } from 'etcd-coord';
${body('esm')}`;

describe('the packed tarball installed into fresh ESM and CommonJS apps', () => {
  useCli();
  let work = '';
  let files: string[] = [];
  const app = (): string => join(work, 'app');

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'etcd-coord-pkg-'));
    const stage = join(work, 'stage');
    await cp(dirname(dirname(cliEntry())), join(stage, 'dist'), { recursive: true });
    // Whatever of these exists is staged; `files` in package.json decides what npm packs.
    for (const f of ['package.json', 'README.md', 'LICENSE'])
      if (existsSync(join(ROOT, f))) await cp(join(ROOT, f), join(stage, f));
    const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], {
      cwd: stage,
      env: cleanEnv(),
      timeout: INSTALL_TIMEOUT_MS,
    });
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    if (info === undefined) throw new Error(`npm pack printed no package: ${packed.stdout}`);
    files = info.files.map((f) => f.path);

    await mkdir(join(app(), 'esm'), { recursive: true });
    await writeFile(
      join(app(), 'package.json'),
      '{ "name": "cjs-app", "private": true, "type": "commonjs" }\n',
    );
    await writeFile(join(app(), 'esm', 'package.json'), '{ "type": "module" }\n');
    await writeFile(join(app(), 'index.js'), CJS);
    await writeFile(join(app(), 'esm', 'index.js'), ESM);
    await run(
      'npm',
      [
        'install',
        join(work, info.filename),
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        '--loglevel=error',
      ],
      { cwd: app(), env: cleanEnv(), timeout: INSTALL_TIMEOUT_MS },
    );
  }, INSTALL_TIMEOUT_MS * 2);

  afterAll(async () => {
    if (work !== '') await rm(work, { recursive: true, force: true });
  });

  it('ships LICENSE, the build and no source maps pointing at unshipped src/', () => {
    expect(files).toContain('LICENSE');
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('dist/cli/main.js');
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(files.filter((f) => f.startsWith('src/'))).toEqual([]);
  });

  it.each([
    ['cjs', 'index.js'],
    ['esm', join('esm', 'index.js')],
  ])('%s app: imports etcd-coord, connects and takes a lock', async (kind, script) => {
    const ns = uniquePrefix(`pkg-${kind}`);
    const { stdout, stderr } = await run(process.execPath, [script], {
      cwd: app(),
      env: cleanEnv({ ETCD_ENDPOINTS: sharedEndpoints().join(','), NS: ns }),
      timeout: 30_000,
    });
    expect(stderr).toBe('');
    const out = JSON.parse(stdout.trim()) as { kind: string; token: string; key: string };
    expect(out.kind).toBe(kind);
    expect(BigInt(out.token)).toBeGreaterThan(0n);
    expect(out.key).toMatch(/^pkg\/[0-9a-f]+$/);
  });

  it('type-checks from CommonJS (`import x = require()`) and ESM under strict `module: nodenext`', async () => {
    await writeFile(
      join(app(), 'check.cts'),
      "import etcd = require('etcd-coord');\nexport const c: Promise<etcd.Coordinator> = etcd.connect({ namespace: 'a/' });\n",
    );
    await writeFile(
      join(app(), 'esm', 'check.mts'),
      "import { connect, type Coordinator } from 'etcd-coord';\nexport const c: Promise<Coordinator> = connect({ namespace: 'a/' });\n",
    );
    const tsconfig = {
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        strict: true,
        noEmit: true,
        // The app has no @types/node of its own: use this checkout's.
        typeRoots: [join(ROOT, 'node_modules', '@types')],
        types: ['node'],
      },
      files: ['check.cts', 'esm/check.mts'],
    };
    await writeFile(join(app(), 'tsconfig.json'), JSON.stringify(tsconfig));
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], {
      cwd: app(),
      timeout: 120_000,
    }).then(
      () => ({ ok: true, out: '' }),
      (err: { stdout?: string }) => ({ ok: false, out: err.stdout ?? String(err) }),
    );
    expect(r.out).toBe('');
    expect(r.ok).toBe(true);
  });

  it('installs the etcd-coord bin, which prints its help', async () => {
    const { stdout } = await run(join(app(), 'node_modules', '.bin', 'etcd-coord'), ['--help'], {
      cwd: app(),
      env: cleanEnv(),
      timeout: 30_000,
    });
    expect(stdout).toMatch(/etcd-coord/);
  });
});
