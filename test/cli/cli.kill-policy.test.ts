import { describe, expect, it } from 'vitest';
import { runCli, useCli } from './cli-helper.js';

/** Nothing listens there: a command that got past its flags fails with 69 instead of 64. */
const NOWHERE = ['--endpoints', '127.0.0.1:1', '--dial-timeout', '300ms'];

describe(
  'etcd-coord lock/elect/once: --kill-after and --lock-delay the lease cannot honour are refused',
  { timeout: 120_000 },
  () => {
    useCli();

    const holders: Array<[string, string[]]> = [
      ['lock', ['lock', 'job']],
      ['elect', ['elect', 'job']],
      ['once', ['once', 'job', '--slot', 's1']],
    ];

    for (const [name, head] of holders) {
      it(`${name}: --kill-after above --ttl − 1.25 s exits 64 naming both flags and the bound`, async () => {
        const r = await runCli([...NOWHERE, ...head, '--ttl', '2', '--kill-after', '1s', '--', 'true']);
        expect(r.code, r.stderr).toBe(64);
        expect(r.stderr).toMatch(/--kill-after 1000 ms cannot be honoured with --ttl 2/);
        expect(r.stderr).toMatch(/at most 750 ms/);
        // The observed combination: refused too.
        const observed = await runCli([
          ...NOWHERE,
          ...head,
          '--ttl',
          '4',
          '--kill-after',
          '3s',
          '--',
          'true',
        ]);
        expect(observed.code, observed.stderr).toBe(64);
        // The default --kill-after (5 s) does not fit --ttl 5: refused only when given explicitly.
        const fits = await runCli([
          ...NOWHERE,
          ...head,
          '--ttl',
          '5',
          '--kill-after',
          '3750ms',
          '--',
          'true',
        ]);
        expect(fits.code, fits.stderr).toBe(69);
        const byDefault = await runCli([...NOWHERE, ...head, '--ttl', '2', '--', 'true']);
        expect(byDefault.code, byDefault.stderr).toBe(69);
      });

      it(`${name}: --lock-delay below --kill-after exits 64`, async () => {
        const r = await runCli([
          ...NOWHERE,
          ...head,
          '--kill-after',
          '2s',
          '--lock-delay',
          '1s',
          '--',
          'true',
        ]);
        expect(r.code, r.stderr).toBe(64);
        expect(r.stderr).toMatch(/--lock-delay 1000 ms is shorter than --kill-after 2000 ms/);
        const ok = await runCli([
          ...NOWHERE,
          ...head,
          '--kill-after',
          '2s',
          '--lock-delay',
          '2s',
          '--',
          'true',
        ]);
        expect(ok.code, ok.stderr).toBe(69);
      });

      it(`${name} --help says what --lock-delay buys and costs`, async () => {
        const r = await runCli([...head.slice(0, 1), '--help']);
        expect(r.code).toBe(0);
        const help = r.stdout.join('\n');
        expect(help).toMatch(/--lock-delay <duration>/);
        expect(help).toMatch(/failover/);
        expect(help).toMatch(/whatever it does with SIGTERM/);
      });
    }
  },
);
