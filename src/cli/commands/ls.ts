/**
 * `etcd-coord ls <prefix>`: streams every key under a prefix, page by page, at one revision.
 *
 * @module
 */
import { GLOBAL_HELP, connectOptions, flag, intOption, parseCommand, positionals, str } from '../args.js';
import { withCoordinator } from '../coordinator.js';
import { ExitCode, UsageError } from '../exit-codes.js';
import { printHelp, writeOut, type CliIo } from '../io.js';

const OPTIONS = {
  'page-size': { type: 'string' },
  rev: { type: 'string' },
  'keys-only': { type: 'boolean' },
  reverse: { type: 'boolean' },
} as const;

export const help = `Usage: etcd-coord ls <prefix> [--page-size 1000] [--rev N] [--keys-only] [--reverse]

Streams every key under <prefix> (relative to --namespace; "" for all) at one revision: the first page's,
or --rev. Memory stays flat whatever the number of keys. Output: the key, then its value, one line each
(as \`etcdctl get --prefix\`); --keys-only prints keys only. With --json one object per key:
{"key", "value", "createRevision", "modRevision", "version", "lease"} ("valueBase64" instead of "value" for
bytes that are not UTF-8). A revision compacted mid-listing fails (exit 1), never a partial listing.

Exit status: 0; 1 revision compacted; 69 etcd unavailable; 64 usage.

Examples:
  etcd-coord ls services/
  etcd-coord ls "" --keys-only --page-size 5000 | wc -l
  etcd-coord ls app/config/ --json --rev 1234`;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Runs `ls`. */
export async function run(args: readonly string[], io: CliIo): Promise<number> {
  const p = parseCommand(args, OPTIONS, 'ls');
  if (p.help) return printHelp(io, help, GLOBAL_HELP);
  const [prefix = ''] = positionals(p, ['prefix'], 'ls');
  const pageSize = intOption(p, 'page-size', 'ls', 1, 100_000);
  const rev = str(p, 'rev');
  if (rev !== undefined && !/^[1-9]\d*$/.test(rev))
    throw new UsageError(`--rev: expected a revision (integer >= 1), got "${rev}"`, 'ls');
  const keysOnly = flag(p, 'keys-only');
  return withCoordinator(connectOptions(p, io, 'ls'), io, async (coord) => {
    const query = coord.range(prefix, {
      signal: io.signal,
      keysOnly,
      reverse: flag(p, 'reverse'),
      ...(pageSize === undefined ? {} : { pageSize }),
      ...(rev === undefined ? {} : { revision: BigInt(rev) }),
    });
    for await (const kv of query) {
      const key = kv.key.toString();
      if (p.json) {
        let value: { value: string } | { valueBase64: string } | object = {};
        if (!keysOnly) {
          try {
            value = { value: utf8.decode(kv.value) };
          } catch {
            value = { valueBase64: kv.value.toString('base64') };
          }
        }
        const row = {
          key,
          ...value,
          createRevision: kv.createRevision.toString(),
          modRevision: kv.modRevision.toString(),
          version: kv.version.toString(),
          lease: kv.leaseId.toString(),
        };
        await writeOut(io, `${JSON.stringify(row)}\n`);
      } else {
        await writeOut(io, keysOnly ? `${key}\n` : `${key}\n${kv.value.toString()}\n`);
      }
    }
    return ExitCode.OK;
  });
}
