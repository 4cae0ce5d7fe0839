/**
 * What `node:util` `parseArgs` gets wrong for a CLI user: negative numbers read as short options
 * (`counter add c -3`), and its unknown-option advice ("as in '-- "--tll"'", which would run `--tll` as
 * the command). Used by `args.ts` around its one `parseArgs` call.
 *
 * @module
 */
import type { ParseArgsConfig } from 'node:util';

type OptionsSpec = NonNullable<ParseArgsConfig['options']>;

const NEGATIVE = /^-\d+(?:\.\d+)?$/;

/**
 * Rewrites `argv` so that `parseArgs` reads negative numbers as what they mean: the value of the
 * string option before it (`--priority -3` → `--priority=-3`), else a positional (replaced by a
 * placeholder that {@link restorePositionals} turns back).
 *
 * @example
 * ```ts
 * const { args, negatives } = protectNegatives(['add', 'c', '-3'], spec);
 * const parsed = parseArgs({ args, options: spec, allowPositionals: true });
 * const positionals = restorePositionals(parsed.positionals, negatives); // ['add', 'c', '-3']
 * ```
 *
 * Failure modes: none; a spec without a `-<digit>` short option is assumed (none is defined).
 */
export function protectNegatives(
  argv: readonly string[],
  options: OptionsSpec,
): { args: string[]; negatives: Map<string, string> } {
  const shortToLong = new Map<string, string>();
  for (const [name, spec] of Object.entries(options)) if (spec.short) shortToLong.set(spec.short, name);
  const takesValue = (arg: string): boolean => {
    if (arg.includes('=')) return false;
    const long = arg.startsWith('--') ? arg.slice(2) : shortToLong.get(arg.slice(1));
    return long !== undefined && options[long]?.type === 'string';
  };
  const args: string[] = [];
  const negatives = new Map<string, string>();
  for (const arg of argv) {
    if (!NEGATIVE.test(arg)) {
      args.push(arg);
      continue;
    }
    const prev = args.at(-1);
    if (prev !== undefined && prev.startsWith('-') && !NEGATIVE.test(prev) && takesValue(prev)) {
      args[args.length - 1] = `${prev}=${arg}`;
    } else {
      // A NUL cannot come from a real command line, so the placeholder never collides with an argument.
      const placeholder = `\u0000neg${negatives.size}`;
      negatives.set(placeholder, arg);
      args.push(placeholder);
    }
  }
  return { args, negatives };
}

/** The positionals with {@link protectNegatives}' placeholders turned back into the numbers. */
export function restorePositionals(positionals: readonly string[], negatives: Map<string, string>): string[] {
  return positionals.map((p) => negatives.get(p) ?? p);
}

/** Edit distance (insertions, deletions, substitutions, adjacent swaps) between two short words. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => d[i]?.[j] ?? Number.MAX_SAFE_INTEGER;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

/**
 * The message for an unknown option: `unknown option --tll (did you mean --ttl?)` when one known option
 * is close (at most 2 edits, fewer than half the word), else `unknown option --tll`.
 *
 * @example
 * ```ts
 * unknownOptionMessage('--tll', { ttl: { type: 'string' } }); // 'unknown option --tll (did you mean --ttl?)'
 * ```
 */
export function unknownOptionMessage(option: string, options: OptionsSpec): string {
  const word = option.replace(/^--?/, '').replace(/=.*$/, '');
  let best: { name: string; d: number } | undefined;
  for (const name of Object.keys(options).sort()) {
    const d = distance(word, name);
    if (d <= 2 && d < Math.max(word.length, name.length) / 2 && (best === undefined || d < best.d))
      best = { name, d };
  }
  const shown = option.replace(/=.*$/, '');
  return best === undefined
    ? `unknown option ${shown}`
    : `unknown option ${shown} (did you mean --${best.name}?)`;
}
