/**
 * What a command gets from `main.ts` instead of touching `process`: its streams, environment and the
 * signals the CLI receives. Commands never call `process.exit`; they return an exit code or throw.
 *
 * @module
 */
import type { Readable, Writable } from 'node:stream';

/** The signals the CLI catches: forwarded to a supervised child, or ending the command gracefully. */
export const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type ForwardedSignal = (typeof FORWARDED_SIGNALS)[number];

/** The process-facing side of a command. */
export interface CliIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly stdin: Readable & { isTTY?: boolean | undefined };
  readonly env: NodeJS.ProcessEnv;
  /** Aborted on the first SIGINT/SIGTERM/SIGHUP the CLI receives; `reason` is the signal name. */
  readonly signal: AbortSignal;
  /**
   * Calls `fn` for every SIGINT/SIGTERM/SIGHUP (a supervisor forwards them to its child). While at least one
   * listener is registered, a repeated signal does not force the CLI to exit. Returns the unsubscribe function.
   */
  onSignal(fn: (signal: ForwardedSignal) => void): () => void;
  /** Values that must never appear in output (passwords); `main.ts` redacts them from every message. */
  readonly secrets: Set<string>;
}

/** Writes one line to stdout: `text` as is, or `JSON.stringify(json)` when `--json` was given. */
export function emit(io: CliIo, json: boolean, text: string, value: unknown): void {
  io.stdout.write(`${json ? JSON.stringify(value, jsonReplacer) : text}\n`);
}

/** Writes one diagnostic line to stderr, prefixed with `etcd-coord:`, with secrets redacted. */
export function note(io: CliIo, message: string): void {
  io.stderr.write(`etcd-coord: ${redact(message, io.secrets)}\n`);
}

/** JSON.stringify replacer: bigints as decimal strings (revisions, lease ids, fencing tokens). */
export function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** Replaces every secret (of 1+ characters) in `text` by `***`. */
export function redact(text: string, secrets: ReadonlySet<string>): string {
  let out = text;
  for (const secret of secrets) if (secret !== '') out = out.split(secret).join('***');
  return out;
}

/** Prints a command's help text (and the global options) to stdout; returns exit code 0. */
export function printHelp(io: CliIo, help: string, globalHelp: string): number {
  io.stdout.write(`${help.trimEnd()}\n\n${globalHelp}\n`);
  return 0;
}

/** Writes `text` to stdout, waiting for the stream to drain when its buffer is full (flat memory). */
export async function writeOut(io: CliIo, text: string): Promise<void> {
  if (io.stdout.write(text)) return;
  await new Promise<void>((resolve) => io.stdout.once('drain', resolve));
}
