/**
 * Opening and closing the coordinator for a command. Kept apart from the argument parsing so that
 * `--help` and usage errors never load the etcd client.
 *
 * @module
 */
import type { CliIo } from './io.js';
import { connect, type ConnectOptions, type Coordinator } from '../index.js';

/**
 * Connects, runs `fn`, and closes the coordinator (releasing whatever `fn` left held) whatever happens.
 *
 * @throws whatever `connect()` or `fn` throws (mapped to exit codes by `main.ts`)
 */
export async function withCoordinator<T>(
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
