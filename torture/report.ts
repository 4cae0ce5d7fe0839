/**
 * The summary table printed at the end of a campaign.
 *
 * @module
 */
import type { CampaignReport } from './campaign.js';

export function formatReport(r: CampaignReport): string {
  const lines: string[] = [];
  const pad = (s: string | number, n: number): string => String(s).padEnd(n);
  lines.push(
    `torture seed=${r.seed} profile=${r.profile}${r.unguarded ? ' UNGUARDED (negative control)' : ''} ` +
      `nemesis=${Math.round(r.nemesisMs / 1000)} s total=${Math.round(r.durationMs / 1000)} s ` +
      `load(1m) before=${r.load.before[0]?.toFixed(2)} after=${r.load.after[0]?.toFixed(2)} on ${r.load.cpus} cpus`,
  );
  lines.push('');
  lines.push(`${pad('recipe', 10)}${pad('ops', 8)}${pad('violations', 12)}stats`);
  for (const res of r.results) {
    const stats = Object.entries(res.stats)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    lines.push(`${pad(res.recipe, 10)}${pad(res.operations, 8)}${pad(res.violations.length, 12)}${stats}`);
  }
  lines.push('');
  const total = Object.values(r.faultsByKind).reduce((a, b) => a + b, 0);
  lines.push(
    `faults: ${total} (` +
      Object.entries(r.faultsByKind)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') +
      ')',
  );
  lines.push(`operations: ${r.operations}   violations: ${r.violations}   gated: ${r.gated.length}`);
  for (const res of r.results) {
    for (const v of res.violations) {
      lines.push(`  VIOLATION ${v.recipe}/${v.invariant}: ${v.message}`);
      for (const e of v.evidence) lines.push(`    ${JSON.stringify(e)}`);
    }
  }
  const shown = new Map<string, number>();
  for (const v of r.gated) {
    const id = `${v.recipe}/${v.invariant}`;
    const n = (shown.get(id) ?? 0) + 1;
    shown.set(id, n);
    if (n <= 3) lines.push(`  GATED (${v.reason}) ${id}: ${v.message}`);
  }
  for (const [id, n] of shown) if (n > 3) lines.push(`  GATED ${id}: ${n - 3} more`);
  for (const [kind, why] of Object.entries(r.gatedKinds)) lines.push(`  GATED kind ${kind}: ${why}`);
  for (const res of r.results)
    for (const n of (res.notes ?? []).slice(0, 5)) lines.push(`  NOTE ${res.recipe}: ${n}`);
  for (const [w, err] of Object.entries(r.workerErrors))
    lines.push(`  worker ${w} ended badly: ${err.slice(-300)}`);
  return lines.join('\n');
}
