/**
 * `npm run torture -- --minutes N --seed S [--ci] [--unguarded] [--member-down-seconds S]`: runs one
 * fault campaign, prints the summary table, writes torture/results/<seed>.json, and exits 1 on any
 * violation (printing the seed to replay it).
 *
 * `--ci` uses the small CI profile (`--profile full|ci|control|ghost-control|exclusion-control|
 * reset-control`, see `profiles.ts`; the `*control` profiles are negative controls and must report
 * violations); `--unguarded` runs the mutex workers without `guard()` (the mutex's negative control).
 * `--member-down-seconds` overrides the profile's "member down for a minute" phase (0: skip it); the
 * phase's time comes out of the nemesis's. `--converge-seconds` bounds the wait for eventual properties
 * after healing (for short validation runs).
 *
 * @module
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PROFILES, runCampaign, type Profile } from './campaign.js';
import { formatReport } from './report.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    seed: { type: 'string' },
    ci: { type: 'boolean', default: false },
    profile: { type: 'string' },
    unguarded: { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
    'member-down-seconds': { type: 'string' },
    'converge-seconds': { type: 'string' },
  },
});
const minutes = Number(values.minutes);
if (!Number.isFinite(minutes) || minutes <= 0)
  throw new RangeError(`Expected \`--minutes\` > 0, got ${values.minutes}`);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (!Number.isSafeInteger(seed))
  throw new RangeError(`Expected \`--seed\` to be an integer, got ${values.seed}`);

const profileName = values.profile ?? (values.ci ? 'ci' : 'full');
if (!(profileName in PROFILES))
  throw new RangeError(`Expected \`--profile\` to be one of ${Object.keys(PROFILES).join(', ')}`);
const base: Profile = PROFILES[profileName as keyof typeof PROFILES];
const convergeArg = values['converge-seconds'];
const profile: Profile =
  convergeArg === undefined ? base : { ...base, convergeMs: Number(convergeArg) * 1000 };
if (!Number.isFinite(profile.convergeMs) || profile.convergeMs < 0)
  throw new RangeError(`Expected \`--converge-seconds\` ≥ 0, got ${convergeArg}`);
const t0 = Date.now();
const log = values.quiet
  ? () => undefined
  : (line: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}`);
const downArg = values['member-down-seconds'];
const memberDownMs = downArg === undefined ? (profile.memberDownMs ?? 0) : Number(downArg) * 1000;
if (!Number.isFinite(memberDownMs) || memberDownMs < 0)
  throw new RangeError(`Expected \`--member-down-seconds\` ≥ 0, got ${downArg}`);
// The nemesis gets the run minus about a minute for startup, healing and convergence, and the phase.
const nemesisMs = Math.max(20_000, minutes * 60_000 - 60_000 - memberDownMs);
const report = await runCampaign({
  profile,
  seed,
  nemesisMs,
  unguarded: values.unguarded,
  memberDownMs,
  log,
});

const dir = fileURLToPath(new URL('./results/', import.meta.url));
await mkdir(dir, { recursive: true });
const file = `${dir}${seed}${values.unguarded ? '-unguarded' : ''}.json`;
await writeFile(file, JSON.stringify(report, null, 2) + '\n');
console.log('\n' + formatReport(report));
console.log(`\nreport: ${file}`);
if (report.violations > 0) {
  console.log(
    `\nFAILED: ${report.violations} violation(s). Replay with: npm run torture -- --minutes ${minutes} --seed ${seed}${values.profile !== undefined ? ` --profile ${profileName}` : values.ci ? ' --ci' : ''}${values.unguarded ? ' --unguarded' : ''}`,
  );
  process.exit(1);
}
console.log('\nPASSED: 0 violations');
process.exit(0);
