import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { configEnv, envName, shellQuote, toEnvFile } from '../../src/cli/commands/config-env-format.js';
import { ConfigError, ExitCode } from '../../src/cli/exit-codes.js';

const sh = async (script: string): Promise<string> =>
  (await promisify(execFile)('sh', ['-c', script], { encoding: 'utf8' })).stdout;

describe('config env format', () => {
  it('names: path joined by _, upper-cased, other characters as _, no leading digit', () => {
    expect(envName(['db', 'url'])).toBe('DB_URL');
    expect(envName(['db', 'pool-size'])).toBe('DB_POOL_SIZE');
    expect(envName(['9lives'])).toBe('_9LIVES');
  });

  it('two keys that become one name are refused with exit 78, naming both keys and the name', () => {
    const run = () => configEnv({ db: { url: 'a' }, db_url: 'b' });
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(/"db\/url" and "db_url".*DB_URL/);
    try {
      run();
    } catch (err) {
      expect((err as ConfigError).exitCode).toBe(ExitCode.CONFIG);
      expect((err as Error).message).not.toMatch(/\n/);
    }
    expect(() => configEnv({ 'a-b': 1, a_b: 2 })).toThrow(/"a-b" and "a_b".*A_B/);
    // Negative control: distinct names pass.
    expect([...configEnv({ db: { url: 'a' }, dburl: 'b' }).keys()]).toEqual(['DB_URL', 'DBURL']);
  });

  it('a value a shell sources from the file reads back exactly (spaces, quotes, $, backticks, newlines)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cli-env-'));
    try {
      const values = {
        space: 'a b  c',
        single: "it's 'quoted'",
        double: 'say "hi"',
        dollar: '$HOME ${PATH} $(id)',
        backtick: '`id` done',
        newline: 'line1\nline2\n',
        backslash: 'a\\nb\\',
        empty: '',
        mix: `'"$\`\\\n;&|<>*?`,
      };
      const file = join(dir, 'app.env');
      await writeFile(file, toEnvFile(values));
      for (const [key, want] of Object.entries(values)) {
        const got = await sh(`. '${file}'; printf %s "$${key.toUpperCase()}"`);
        expect(got, key).toBe(want);
      }
      // Negative control: the old unquoted form (NAME=value) does not survive sourcing.
      await writeFile(file, `SPACE=${values.space}\n`);
      const old = await sh(`. '${file}' 2>/dev/null; printf %s "$SPACE"`).catch(() => '(failed)');
      expect(old).not.toBe(values.space);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('shellQuote round-trips any string through sh (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\0')),
        async (s) => {
          expect(await sh(`printf %s ${shellQuote(s)}`)).toBe(s);
        },
      ),
      { numRuns: 40 },
    );
  });
});
