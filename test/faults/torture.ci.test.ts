/**
 * The CI variant of the fault campaign (issue 11): a short run of every recipe under the nemesis on a
 * 3-member cluster, with a fixed seed, then the negative control (mutex workers without `guard()`,
 * lock holders paused past their TTL) which must be caught. About 2 minutes on 2 cores.
 *
 * The CI profile gates the checkers and kinds that fire on recipes whose fixes are not merged yet
 * (`CI_GATED`, `CI_GATED_KINDS` in torture/profiles.ts, each with its issue): their violations are
 * printed, not counted. The other negative controls (ghost keys, exclusion, store reset) are the
 * `*-control` profiles of `npm run torture` and, on hand-made histories, test/unit/torture.*.
 */
import { describe, expect, it } from 'vitest';
import { PROFILES, runCampaign, type CampaignReport } from '../../torture/campaign.js';
import { SCHEDULED_KINDS } from '../../torture/nemesis.js';
import { formatReport } from '../../torture/report.js';

const CI_SEED = 20261121;
const CONTROL_SEED = 7;

describe('torture (CI variant)', () => {
  it(
    'every recipe keeps its guarantees under kills, pauses, stalled applies, partitions, reply drops, an empty member, compaction and a member down',
    { timeout: 300_000 },
    async () => {
      const report = await runCampaign({ profile: PROFILES.ci, seed: CI_SEED, nemesisMs: 55_000 });
      explain(report);
      expect(report.violations, violationsOf(report)).toBe(0);
      const gatedKinds = PROFILES.ci.gatedKinds;
      for (const kind of [...SCHEDULED_KINDS.filter((k) => !(k in gatedKinds)), 'member-down' as const])
        expect(report.faultsByKind[kind], `faults of kind ${kind}`).toBeGreaterThan(0);
      for (const kind of Object.keys(gatedKinds))
        expect(report.faultsByKind[kind as keyof typeof gatedKinds]).toBe(0);
      for (const r of report.results) {
        // Cross-cutting checkers read the final reports and state, not operations of their own.
        if (r.recipe === 'ghosts' || r.recipe === 'store-reset') continue;
        if (r.recipe === 'liveness')
          expect(r.stats['reports'], 'every worker reported').toBe(report.workers.length);
        else expect(r.operations, `${r.recipe} did something`).toBeGreaterThan(0);
      }
      expect(report.workerErrors).toEqual({});
    },
  );

  it(
    'catches the missing guard: unguarded mutex writes by paused holders are reported',
    { timeout: 180_000 },
    async () => {
      const report = await runCampaign({
        profile: PROFILES.control,
        seed: CONTROL_SEED,
        nemesisMs: 25_000,
        unguarded: true,
      });
      explain(report);
      expect(report.violatedRecipes).toEqual(['mutex']);
      const invariants = new Set(report.results.flatMap((r) => r.violations.map((v) => v.invariant)));
      expect(invariants.has('distinct-values') || invariants.has('stale-owner')).toBe(true);
    },
  );
});

function explain(report: CampaignReport): void {
  const loud = process.env['TORTURE_VERBOSE'] === '1' || report.violations > 0 || report.gated.length > 0;
  if (loud) console.log(formatReport(report));
}

function violationsOf(report: CampaignReport): string {
  return report.results
    .flatMap((r) => r.violations.map((v) => `${v.recipe}/${v.invariant}: ${v.message}`))
    .join('\n');
}
