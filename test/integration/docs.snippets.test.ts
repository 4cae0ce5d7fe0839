import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedEndpoints, spawnNode } from '../support/shared.js';
import { allSnippets, type SnippetModule } from '../support/snippets.js';

// Every `ts` block of README.md and docs/*.md, one module per file (test/support/snippets.ts), is
// type-checked with the project's compiler options and then run against the shared etcd, so the docs
// cannot drift from the API. Outside the repo's tsconfig include (and ignored by git and eslint).
const DIR = '.snippets';
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const run = promisify(execFile);

/** A unique namespace per module, so files run concurrently without sharing keys, and cleanup is exact. */
function prepare(m: SnippetModule, prefix: string): string {
  const source = m.source
    .replaceAll(/from 'etcd-coord'/g, "from '../src/index.js'")
    .replaceAll(/namespace: '([^']*)'/g, (_, ns: string) => `namespace: '${prefix}${ns}'`);
  if (/\bconnect\(/.test(source) && !source.includes(`namespace: '${prefix}`)) {
    throw new Error(`${m.name}: every connect() in a snippet must pass a namespace (e.g. 'myapp/')`);
  }
  return source;
}

describe('docs snippets type-check and run against a real etcd', () => {
  const endpoints = sharedEndpoints();
  const modules = allSnippets();
  const prefix = (m: SnippetModule) => `docs-${m.slug}-${randomBytes(3).toString('hex')}/`;
  const prefixes = new Map(modules.map((m) => [m.name, prefix(m)]));
  let typeErrors = '';

  beforeAll(async () => {
    rmSync(DIR, { recursive: true, force: true });
    mkdirSync(DIR);
    writeFileSync(
      `${DIR}/tsconfig.json`,
      JSON.stringify({ extends: '../tsconfig.json', include: ['*.ts'], compilerOptions: { noEmit: true } }),
    );
    for (const m of modules) writeFileSync(`${DIR}/${m.slug}.ts`, prepare(m, prefixes.get(m.name)!));
    try {
      await run(process.execPath, [tsc, '-p', `${DIR}/tsconfig.json`, '--pretty', 'false']);
    } catch (err) {
      typeErrors = String((err as { stdout?: string }).stdout ?? err);
    }
  }, 120_000);

  afterAll(async () => {
    rmSync(DIR, { recursive: true, force: true });
    const admin = new Etcd3({ hosts: endpoints });
    try {
      await Promise.all([...prefixes.values()].map((p) => admin.delete().prefix(p).exec()));
    } finally {
      admin.close();
    }
  });

  it('finds the README and at least one guide with runnable blocks', () => {
    expect(modules.map((m) => m.name)).toContain('README.md');
    expect(modules.length).toBeGreaterThan(1);
  });

  it.concurrent.each(modules.map((m) => [m.name, m] as const))('%s', { timeout: 60_000 }, async (_, m) => {
    const errors = typeErrors
      .split('\n')
      .filter((l) => l.startsWith(`${DIR}/${m.slug}.ts(`))
      .join('\n');
    expect(errors, `type errors in the ts blocks of ${m.name}`).toBe('');
    const child = spawnNode(`${DIR}/${m.slug}.ts`, [], { env: { ETCD_ENDPOINTS: endpoints.join(',') } });
    const exit = await child.exited;
    if (exit.code !== 0) console.error(`${m.name}:\n${child.output.join('\n')}\n${child.stderr()}`);
    expect(exit, `${m.name} ran`).toEqual({ code: 0, signal: null });
  });
});
