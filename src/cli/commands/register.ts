/**
 * `etcd-coord register <service> --address host:port [-- <cmd…>]`: the registration sidecar.
 *
 * @module
 */
import {
  GLOBAL_HELP,
  connectOptions,
  durationOption,
  list,
  parseCommand,
  positionals,
  str,
  ttlOption,
} from '../args.js';
import { withCoordinator } from '../coordinator.js';
import { ExitCode, UsageError } from '../exit-codes.js';
import { emit, note, printHelp, type CliIo } from '../io.js';
import { childExitCode, supervise } from '../supervise.js';
import type { JsonValue, ServiceMetadata } from '../../index.js';

const OPTIONS = {
  address: { type: 'string' },
  id: { type: 'string' },
  meta: { type: 'string', multiple: true },
  ttl: { type: 'string' },
  'kill-after': { type: 'string' },
} as const;

export const help = `Usage: etcd-coord register <service> --address <host:port> [--id <id>] [--meta k=v…] [--ttl 10]
                           [--kill-after 5s] [-- <cmd…>]

Registers an instance of <service> at services/<service>/<id> as {"Addr": address, "Metadata": {...}}
(the layout of etcd's naming/endpoints, readable by gRPC's etcd resolver) on a lease with keepalive.
Without <cmd> it stays registered until SIGINT/SIGTERM; with <cmd> while <cmd> runs, and exits with its
status. If the lease is lost (etcd unreachable for about --ttl) it re-registers as soon as it can (the
command keeps running). It deregisters before exiting, so discovery drops the instance at once; after
kill -9 the instance disappears when the lease expires (--ttl).
Without <cmd> it prints one line when registered ({"event": "registered", …} with --json), and one per
lease loss and re-registration ("lost", "restored").

Options:
  --address <host:port>   where clients reach the instance (required)
  --id <id>               instance id (no "/"). Default <hostname>-<pid>-<random>
  --meta <key=value>      metadata, repeatable; a value that parses as JSON is stored as JSON
  --ttl <seconds>         lease TTL (integer >= 2). Default 10
  --kill-after <duration> after <cmd> exits, what it left in its process group gets SIGTERM, then
                          SIGKILL this much later. Default 5s

Exit status: <cmd>'s, or 0 when stopped by SIGINT/SIGTERM; 69 etcd unavailable; 64 usage.

Examples:
  etcd-coord register payments --address 10.0.0.7:8443 --meta version=1.4.2 --meta zone=a
  etcd-coord register web --address "$(hostname):8080" --ttl 5 -- node server.js`;

function parseMeta(items: string[]): ServiceMetadata {
  const meta: ServiceMetadata = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq < 1) throw new UsageError(`--meta: expected key=value, got "${item}"`, 'register');
    const raw = item.slice(eq + 1);
    let value: JsonValue = raw;
    try {
      value = JSON.parse(raw) as JsonValue;
    } catch {
      // Not JSON: kept as the string it is.
    }
    meta[item.slice(0, eq)] = value;
  }
  return meta;
}

/** Runs `register`. */
export async function run(args: readonly string[], io: CliIo): Promise<number> {
  const p = parseCommand(args, OPTIONS, 'register');
  if (p.help) return printHelp(io, help, GLOBAL_HELP);
  const [service = ''] = positionals(p, ['service'], 'register');
  const address = str(p, 'address');
  if (address === undefined) throw new UsageError('missing --address <host:port>', 'register');
  const metadata = parseMeta(list(p, 'meta'));
  const id = str(p, 'id');
  const killAfterMs = durationOption(p, 'kill-after', 'register') ?? 5000;
  const ttlSeconds = ttlOption(p, 'register');
  if (p.child !== undefined && p.child.length === 0)
    throw new UsageError('missing the command to run after "--"', 'register');
  const opts = connectOptions(p, io, 'register', ttlSeconds === undefined ? {} : { ttlSeconds });

  return withCoordinator(opts, io, async (coord) => {
    const reg = await coord
      .registry(service)
      .register({ address, metadata, signal: io.signal, ...(id === undefined ? {} : { id }) });
    const describe = { service, id: reg.id, key: reg.key, address };
    const report = (event: string, extra: object = {}) => {
      if (p.child === undefined)
        emit(io, p.json, `${event} ${reg.key} ${address}`, { event, ...describe, ...extra });
      else note(io, `${event} ${reg.key} ${address}`);
    };
    reg.on('lost', (err) => report('lost', { reason: err.message }));
    reg.on('restored', (leaseId) => report('restored', { leaseId }));
    reg.on('error', (err) => note(io, `re-registering ${reg.key}: ${err.message}`));
    try {
      report('registered', { leaseId: reg.leaseId });
      if (p.child === undefined) {
        await new Promise<void>((resolve) => {
          if (io.signal.aborted) resolve();
          else io.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        return ExitCode.OK;
      }
      const result = await supervise(io, {
        argv: p.child,
        killAfterMs,
        env: { ETCD_COORD_INSTANCE_KEY: `${coord.namespace}${reg.key}` },
      });
      return childExitCode(result, `registration of ${reg.key}`);
    } finally {
      await reg
        .deregister()
        .catch((err: unknown) =>
          note(io, `could not deregister ${reg.key}: ${err instanceof Error ? err.message : String(err)}`),
        );
    }
  });
}
