/**
 * Opening and closing the coordinator for a command. Kept apart from the argument parsing so that
 * `--help` and usage errors never load the etcd client.
 *
 * @module
 */
import { passwordToPrompt } from './args.js';
import type { CliIo } from './io.js';
import { promptHidden } from './prompt.js';
import { connect, type ConnectOptions, type Coordinator } from '../index.js';

/**
 * Connects, runs `fn`, and closes the coordinator (releasing whatever `fn` left held) whatever happens.
 * A `--user` given without a password is asked for first when stdin is a terminal (never echoed; the
 * answer is added to `io.secrets`); without a terminal the empty password is sent, as before.
 *
 * @throws whatever `connect()` or `fn` throws (mapped to exit codes by `main.ts`), or the prompt's
 *   `CliError` on Ctrl-C (exit 130)
 */
export async function withCoordinator<T>(
  opts: ConnectOptions,
  io: CliIo,
  fn: (coord: Coordinator) => Promise<T>,
): Promise<T> {
  let options = opts;
  if (opts.auth !== undefined && passwordToPrompt.has(opts) && io.stdin.isTTY === true) {
    const { username } = opts.auth;
    const password = await promptHidden(`Password for ${username}: `, io.stdin, io.stderr, io.signal);
    if (password !== '') io.secrets.add(password);
    options = { ...opts, auth: { username, password } };
  }
  return connected(options, io, fn);
}

/**
 * Connects, runs `fn`, and closes the coordinator (releasing whatever `fn` left held) whatever happens.
 *
 * @throws whatever `connect()` or `fn` throws (mapped to exit codes by `main.ts`)
 */
async function connected<T>(
  opts: ConnectOptions,
  io: CliIo,
  fn: (coord: Coordinator) => Promise<T>,
): Promise<T> {
  const coord = await connect({ ...opts, signal: io.signal });
  try {
    return await fn(coord);
  } finally {
    await coord.close();
  }
}
