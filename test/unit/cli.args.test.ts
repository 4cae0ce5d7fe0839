import { mkdtemp, readFile, readdir, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCommand, parseDuration, connectOptions } from '../../src/cli/args.js';
import { UsageError } from '../../src/cli/exit-codes.js';
import { toEnvFile } from '../../src/cli/commands/config-env-format.js';
import { writeAtomic } from '../../src/cli/commands/config-render.js';
import { slotFor } from '../../src/cli/commands/once.js';
import type { CliIo } from '../../src/cli/io.js';

const io = (env: NodeJS.ProcessEnv = {}): CliIo => ({
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env,
  signal: new AbortController().signal,
  onSignal: () => () => undefined,
  secrets: new Set(),
});

describe('cli durations', () => {
  it('parses ms, s, m, h, d, combinations and bare seconds', () => {
    expect(parseDuration('500ms', 't', 'x')).toBe(500);
    expect(parseDuration('30s', 't', 'x')).toBe(30_000);
    expect(parseDuration('5m', 't', 'x')).toBe(300_000);
    expect(parseDuration('1h', 't', 'x')).toBe(3_600_000);
    expect(parseDuration('1d', 't', 'x')).toBe(86_400_000);
    expect(parseDuration('1h30m', 't', 'x')).toBe(5_400_000);
    expect(parseDuration('1.5s', 't', 'x')).toBe(1500);
    expect(parseDuration('10', 't', 'x')).toBe(10_000);
  });

  it('rejects anything else with a usage error naming the option', () => {
    for (const bad of ['', 's', '5x', '-1s', '1s ', '1 s', 'soon', '1h-5m']) {
      expect(() => parseDuration(bad, 'timeout', 'lock')).toThrow(UsageError);
      expect(() => parseDuration(bad, 'timeout', 'lock')).toThrow(/--timeout/);
    }
  });
});

describe('cli --every slots', () => {
  it('every time within half a period of a boundary names that boundary (hosts agree despite skew)', () => {
    const hour = 3_600_000;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: -hour / 2 + 1, max: hour / 2 - 1 }),
        (k, skew) => {
          expect(slotFor(hour, k * hour + skew)).toBe(new Date(k * hour).toISOString());
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('cli global options', () => {
  it('takes endpoints and credentials from the environment, flags first, and registers the password as a secret', () => {
    const env = io({ ETCDCTL_ENDPOINTS: 'a:1,b:2', ETCD_USER: 'u', ETCD_PASSWORD: 'p' });
    const opts = connectOptions(parseCommand([], {}, 'status'), env, 'status');
    expect(opts).toMatchObject({ endpoints: ['a:1', 'b:2'], auth: { username: 'u', password: 'p' } });
    expect(env.secrets.has('p')).toBe(true);
    const flagged = connectOptions(
      parseCommand(['--endpoints', 'c:3', '--user', 'v:q'], {}, 'status'),
      io({ ETCD_ENDPOINTS: 'a:1' }),
      'status',
    );
    expect(flagged).toMatchObject({ endpoints: ['c:3'], auth: { username: 'v', password: 'q' } });
  });

  it('splits the child command at the first "--"', () => {
    const p = parseCommand(['name', '--json', '--', 'sh', '-c', 'echo --json'], {}, 'lock');
    expect(p.positionals).toEqual(['name']);
    expect(p.json).toBe(true);
    expect(p.child).toEqual(['sh', '-c', 'echo --json']);
  });
});

describe('cli config rendering', () => {
  it("renders nested config as KEY_PATH='value' lines", () => {
    expect(toEnvFile({ db: { url: 'pg://h', 'pool-size': 5 }, on: true, list: [1, 2], multi: 'a\nb' })).toBe(
      "DB_URL='pg://h'\nDB_POOL_SIZE='5'\nON='true'\nLIST='[1,2]'\nMULTI='a\nb'\n",
    );
  });

  it('writes atomically: the target keeps its mode and no temporary file is left', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cli-atomic-'));
    try {
      const file = join(dir, 'out.json');
      await writeFile(file, 'old');
      await chmod(file, 0o600);
      await writeAtomic(file, '{"a":1}\n');
      expect(await readFile(file, 'utf8')).toBe('{"a":1}\n');
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect(await readdir(dir)).toEqual(['out.json']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
