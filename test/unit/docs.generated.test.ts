import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLI_COMMANDS, generatedFiles } from '../../scripts/docs-gen.js';

// The benchmark tables and the CLI reference are generated (scripts/docs-gen.ts), never typed by hand:
// the committed docs must equal the generator's output. Fix with `npm run docs:gen`.

describe('generated docs are up to date', () => {
  it('README.md, docs/benchmarks.md, docs/cli.md and every guide table equal `npm run docs:gen` output', async () => {
    const stale: string[] = [];
    for (const [file, content] of await generatedFiles()) {
      if (readFileSync(file, 'utf8') !== content) stale.push(file);
    }
    expect(stale, 'run npm run docs:gen').toEqual([]);
  });

  it("docs/cli.md's reference covers every command module that has a --help", () => {
    const withHelp = readdirSync('src/cli/commands')
      .filter((f) => /^export const help = /m.test(readFileSync(`src/cli/commands/${f}`, 'utf8')))
      .map((f) => f.replace(/\.ts$/, ''))
      .sort();
    expect([...CLI_COMMANDS].sort()).toEqual(withHelp);
  });
});
