/**
 * Reading a password from the terminal without echoing it, as `etcdctl --user name` does when no password
 * is given: the prompt goes to stderr (stdout stays the command's output), the terminal is put in raw mode
 * so typed characters are never shown, and restored whatever happens.
 *
 * @module
 */
import type { Readable, Writable } from 'node:stream';
import { CliError, ExitCode, signalExitCode } from './exit-codes.js';

/** A terminal input: a readable stream that can be switched to raw mode (`tty.ReadStream`). */
export type TerminalInput = Readable & {
  isTTY?: boolean | undefined;
  setRawMode?: (raw: boolean) => unknown;
};

const CTRL_C = '\u0003';
const CTRL_D = '\u0004';
const BACKSPACES = new Set(['\u007f', '\b']);

/**
 * Writes `question` to `output`, reads one line from the terminal `input` without echo, and resolves with
 * it (without the line end). Backspace deletes the last character; Enter (or Ctrl-D) ends the line.
 *
 * @example
 * ```ts
 * const password = await promptHidden(`Password for ${user}: `, process.stdin, process.stderr, signal);
 * ```
 *
 * Failure modes: rejects with `CliError` on Ctrl-C (exit 130, as SIGINT) or when `signal` aborts (exit
 * 128+N for the signal that aborted it); rejects with `Error` when `input` is not a terminal or ends before a line. The terminal
 * mode is restored and `input` paused in every case. Nothing typed is ever written to `output`.
 */
export function promptHidden(
  question: string,
  input: TerminalInput,
  output: Writable,
  signal?: AbortSignal,
): Promise<string> {
  if (input.isTTY !== true || typeof input.setRawMode !== 'function')
    return Promise.reject(new Error('cannot prompt for a password: stdin is not a terminal'));
  const setRaw = input.setRawMode.bind(input);
  return new Promise<string>((resolve, reject) => {
    let line = '';
    const finish = (err: Error | undefined): void => {
      input.off('data', onData);
      input.off('end', onEnd);
      signal?.removeEventListener('abort', onAbort);
      setRaw(false);
      input.pause();
      output.write('\n');
      if (err) reject(err);
      else resolve(line);
    };
    const onData = (chunk: Buffer | string): void => {
      for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === CTRL_D) return finish(undefined);
        if (ch === CTRL_C) return finish(interrupted('SIGINT'));
        if (BACKSPACES.has(ch)) line = [...line].slice(0, -1).join('');
        else line += ch;
      }
    };
    const onEnd = (): void => finish(new Error('stdin ended before the password was entered'));
    const onAbort = (): void => finish(interrupted(signal?.reason));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    // Echo off before the question appears: an answer typed the moment it shows must not be echoed.
    setRaw(true);
    output.write(question);
    input.on('data', onData);
    input.on('end', onEnd);
    input.resume();
  });
}

/** The error for a prompt cut short by Ctrl-C or a signal: exit 128+N, as if the signal had ended the CLI. */
function interrupted(reason: unknown): CliError {
  const code = typeof reason === 'string' ? signalExitCode(reason as NodeJS.Signals) : ExitCode.SOFTWARE;
  return new CliError('password prompt interrupted', code);
}
