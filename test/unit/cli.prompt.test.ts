import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CliError } from '../../src/cli/exit-codes.js';
import { promptHidden, type TerminalInput } from '../../src/cli/prompt.js';

/** A stand-in for a terminal: a stream with isTTY and setRawMode, recording the raw-mode switches. */
function fakeTerminal(): { input: TerminalInput & PassThrough; raw: boolean[] } {
  const raw: boolean[] = [];
  const input = Object.assign(new PassThrough(), {
    isTTY: true,
    setRawMode: (on: boolean) => raw.push(on),
  });
  return { input, raw };
}

function capture(): { output: PassThrough; text: () => string } {
  const output = new PassThrough();
  let text = '';
  output.setEncoding('utf8').on('data', (t: string) => (text += t));
  return { output, text: () => text };
}

describe('the hidden password prompt', () => {
  it('reads a line in raw mode, honours backspace, echoes nothing, restores the terminal', async () => {
    const { input, raw } = fakeTerminal();
    const out = capture();
    const answer = promptHidden('Password for app1: ', input, out.output);
    input.write('s3cr');
    input.write('x\u007fet\r');
    await expect(answer).resolves.toBe('s3cret');
    await new Promise((r) => setImmediate(r));
    expect(out.text()).toBe('Password for app1: \n');
    expect(raw).toEqual([true, false]);
  });

  it('Ctrl-C: rejects with exit 130 and restores the terminal', async () => {
    const { input, raw } = fakeTerminal();
    const answer = promptHidden('Password: ', input, capture().output);
    input.write('abc\u0003');
    const err = await answer.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(130);
    expect(raw).toEqual([true, false]);
  });

  it('a signal while prompting: exit 128+N; not a terminal: refused before anything is written', async () => {
    const { input, raw } = fakeTerminal();
    const controller = new AbortController();
    const answer = promptHidden('Password: ', input, capture().output, controller.signal);
    controller.abort('SIGTERM');
    expect(((await answer.catch((e: unknown) => e)) as CliError).exitCode).toBe(143);
    expect(raw).toEqual([true, false]);
    const out = capture();
    await expect(promptHidden('Password: ', new PassThrough(), out.output)).rejects.toThrow(/not a terminal/);
    expect(out.text()).toBe('');
  });
});
