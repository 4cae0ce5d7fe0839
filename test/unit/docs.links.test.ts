import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { docFiles } from '../support/snippets.js';

// The docs hold together: every guide is linked from the README, every relative link (and its
// #anchor) resolves, and the README links to the guides instead of repeating their paragraphs.

/** Guides another change delivers; linked already, checked like any other once they exist. */
const PENDING = new Map([['docs/kv.md', 'issue 17 (coord.kv Store)']]);

/** The text outside fenced code blocks. */
function prose(text: string): string {
  let fence = false;
  return text
    .split('\n')
    .filter((line) => {
      if (line.trimStart().startsWith('```')) fence = !fence;
      return !fence && !line.trimStart().startsWith('```');
    })
    .join('\n');
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, heading] of prose(text).matchAll(/^#{1,6} (.+)$/gm)) {
    const base = heading!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Relative Markdown links `[text](target)` outside code (URLs and mail addresses skipped). */
function relativeLinks(text: string): string[] {
  const withoutInlineCode = prose(text).replace(/`[^`\n]*`/g, '');
  return [...withoutInlineCode.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1]!)
    .filter((t) => !/^[a-z]+:/i.test(t));
}

/** Paragraphs worth comparing: prose blocks of some length, whitespace collapsed. */
function paragraphs(text: string): string[] {
  return prose(text)
    .replace(/<!-- ([\w:-]+):start \(generated[\s\S]*?<!-- \1:end -->/g, '')
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s+/g, ' ').trim())
    .filter((p) => p.length >= 80 && !p.startsWith('|') && !p.startsWith('<!--'));
}

const files = docFiles();
const read = (f: string) => readFileSync(f, 'utf8');

describe('docs links and duplication', () => {
  it('README.md links every guide in docs/', () => {
    const linked = new Set(relativeLinks(read('README.md')).map((t) => normalize(t.split('#')[0]!)));
    const guides = [...files.filter((f) => f !== 'README.md'), ...PENDING.keys()];
    expect(guides.filter((g) => !linked.has(g))).toEqual([]);
  });

  it.each(files)('every relative link in %s resolves, anchors included', (file) => {
    const broken: string[] = [];
    for (const target of relativeLinks(read(file))) {
      const [path, anchor] = target.split('#') as [string, string | undefined];
      const dest = path === '' ? file : normalize(join(dirname(file), path));
      if (!existsSync(dest)) {
        if (!PENDING.has(dest)) broken.push(`${target} (no such file)`);
        continue;
      }
      if (anchor !== undefined && dest.endsWith('.md') && !anchors(read(dest)).has(anchor)) {
        broken.push(`${target} (no heading #${anchor} in ${dest})`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('no README paragraph appears verbatim in a guide (the README links, it does not copy)', () => {
    const guideText = files
      .filter((f) => f !== 'README.md')
      .map((f) => [f, prose(read(f)).replace(/\s+/g, ' ')] as const);
    const copied = paragraphs(read('README.md')).flatMap((p) =>
      guideText.filter(([, text]) => text.includes(p)).map(([f]) => `${f}: ${p.slice(0, 60)}…`),
    );
    expect(copied).toEqual([]);
  });
});
