/**
 * Extracts the runnable TypeScript of the Markdown docs: every fenced block whose info string is exactly
 * `ts`, in file order, concatenated into one module per file, as a reader pastes them top to bottom.
 * A block preceded by `<!-- snippet: separate -->` becomes a module of its own. Blocks that are not
 * meant to run (signatures, pseudo-code) use another fence language (`ts-signature`, `text`).
 *
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';

/** One module to type-check and run. */
export interface SnippetModule {
  /** `README.md`, `docs/locks.md`, or `docs/locks.md#3` for a separate block. */
  readonly name: string;
  /** A file-system-safe name for the generated module. */
  readonly slug: string;
  /** The blocks, each preceded by a `// file:line` comment. */
  readonly source: string;
}

/** README.md and every guide in docs/ (new guides are picked up without a change here). */
export function docFiles(root = '.'): string[] {
  const guides = readdirSync(`${root}/docs`)
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`);
  return ['README.md', ...guides];
}

const SEPARATE = /^<!--\s*snippet:\s*separate\s*-->$/;

/** The modules of one Markdown file (none when it has no `ts` block). */
export function extractSnippets(file: string, text: string): SnippetModule[] {
  const lines = text.split('\n');
  const joined: string[] = [];
  const separate: string[][] = [];
  let block: string[] | undefined;
  let isSeparate = false;
  let lastText = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (block === undefined) {
      if (line.trim() === '```ts') {
        block = [`// ${file}:${i + 2}`];
        isSeparate = SEPARATE.test(lastText);
      } else if (line.trim() !== '') lastText = line.trim();
      continue;
    }
    if (line.trim() === '```') {
      if (isSeparate) separate.push(block);
      else joined.push(...block);
      block = undefined;
      lastText = '';
      continue;
    }
    block.push(line);
  }
  const slug = file.replace(/[^A-Za-z0-9]+/g, '-').toLowerCase();
  const modules: SnippetModule[] = [];
  if (joined.length > 0) modules.push({ name: file, slug, source: joined.join('\n') });
  separate.forEach((b, n) =>
    modules.push({ name: `${file}#${n + 1}`, slug: `${slug}-${n + 1}`, source: b.join('\n') }),
  );
  return modules;
}

/** Every module of README.md and docs/*.md. */
export function allSnippets(root = '.'): SnippetModule[] {
  return docFiles(root).flatMap((f) => extractSnippets(f, readFileSync(`${root}/${f}`, 'utf8')));
}
