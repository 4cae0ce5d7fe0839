/**
 * `etcd-coord discover <service> [--watch]`: lists a service's instances, optionally following changes.
 *
 * @module
 */
import { GLOBAL_HELP, connectOptions, flag, parseCommand, positionals } from '../args.js';
import { withCoordinator } from '../coordinator.js';
import { ExitCode } from '../exit-codes.js';
import { emit, printHelp, type CliIo } from '../io.js';
import type { ServiceInstance } from '../../index.js';

const OPTIONS = { watch: { type: 'boolean' } } as const;

export const help = `Usage: etcd-coord discover <service> [--watch]

Prints the instances registered under services/<service>/ (by \`etcd-coord register\`, the library's
ServiceRegistry, or anything writing etcd's naming/endpoints JSON), one per line: "<id> <address> <metadata>".
With --watch, then one line per change until interrupted: "up|down|change <id> <address> <metadata>".
With --json, one object per line: {"id", "address", "metadata", "leaseId", "revision"} (and "event" with --watch).

Exit status: 0; 69 etcd unavailable; 64 usage.

Examples:
  etcd-coord discover payments
  etcd-coord discover payments --watch --json`;

function line(io: CliIo, json: boolean, inst: ServiceInstance, event?: string): void {
  const text = `${event === undefined ? '' : `${event} `}${inst.id} ${inst.address} ${JSON.stringify(inst.metadata)}`;
  emit(io, json, text, {
    ...(event === undefined ? {} : { event }),
    id: inst.id,
    address: inst.address,
    metadata: inst.metadata,
    leaseId: inst.leaseId,
    revision: inst.revision,
  });
}

/** Runs `discover`. */
export async function run(args: readonly string[], io: CliIo): Promise<number> {
  const p = parseCommand(args, OPTIONS, 'discover');
  if (p.help) return printHelp(io, help, GLOBAL_HELP);
  const [service = ''] = positionals(p, ['service'], 'discover');
  const opts = connectOptions(p, io, 'discover');
  return withCoordinator(opts, io, async (coord) => {
    const svc = await coord.discovery(service, { signal: io.signal });
    try {
      for (const inst of svc.instances()) line(io, p.json, inst);
      if (!flag(p, 'watch')) return ExitCode.OK;
      svc.on('up', (inst) => line(io, p.json, inst, 'up'));
      svc.on('down', (inst) => line(io, p.json, inst, 'down'));
      svc.on('change', (inst) => line(io, p.json, inst, 'change'));
      await new Promise<void>((resolve) => {
        if (io.signal.aborted) resolve();
        else io.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      return ExitCode.OK;
    } finally {
      await svc.close();
    }
  });
}
