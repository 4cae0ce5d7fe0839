/**
 * `etcd-coord status`: where etcd-coord connects and what the cluster looks like (never credentials).
 *
 * @module
 */
import { GLOBAL_HELP, connectOptions, parseCommand, positionals } from '../args.js';
import { withCoordinator } from '../coordinator.js';
import { ExitCode } from '../exit-codes.js';
import { emit, printHelp, type CliIo } from '../io.js';

export const help = `Usage: etcd-coord status

Connects (as every command does: same endpoints, credentials, TLS and --dial-timeout) and prints the
endpoints, namespace, cluster id, the answering member and its version, the raft leader, the raft term,
the store revision and the members. Credentials are never printed (only whether auth is used).
With --json, one object.

Exit status: 0; 69 etcd unavailable; 77 permission denied; 64 usage.

Examples:
  etcd-coord status
  ETCD_ENDPOINTS=10.0.0.5:2379,10.0.0.6:2379 etcd-coord status --json`;

const hex = (id: string | number | undefined): string => BigInt(id ?? 0).toString(16);

/** Runs `status`. */
export async function run(args: readonly string[], io: CliIo): Promise<number> {
  const p = parseCommand(args, {}, 'status');
  if (p.help) return printHelp(io, help, GLOBAL_HELP);
  positionals(p, [], 'status');
  const opts = connectOptions(p, io, 'status');
  return withCoordinator(opts, io, async (coord) => {
    const st = await coord.requester.run('status', (o) => coord.client.maintenance.status(o), {
      signal: io.signal,
    });
    const ml = await coord.requester.run('member list', (o) => coord.client.cluster.memberList({}, o), {
      signal: io.signal,
    });
    const members = ml.members.map((m) => ({
      id: hex(m.ID),
      name: m.name,
      clientURLs: m.clientURLs,
      leader: m.ID === st.leader,
    }));
    const leader = members.find((m) => m.leader);
    const info = {
      endpoints: coord.endpoints,
      namespace: coord.namespace,
      auth: opts.auth !== undefined ? 'user' : 'none',
      ...(opts.auth !== undefined ? { user: opts.auth.username } : {}),
      tls: opts.tls !== undefined,
      clusterId: hex(st.header.cluster_id),
      member: hex(st.header.member_id),
      version: st.version,
      leader: leader ? { id: leader.id, name: leader.name } : { id: hex(st.leader), name: '' },
      raftTerm: String(st.raftTerm),
      revision: String(st.header.revision),
      dbSize: String(st.dbSize),
      members,
    };
    const text = [
      `endpoints: ${info.endpoints.join(',')}`,
      `namespace: ${info.namespace === '' ? '(none)' : info.namespace}`,
      `auth:      ${opts.auth !== undefined ? `user ${opts.auth.username}` : 'none'}${info.tls ? ', TLS' : ''}`,
      `cluster:   ${info.clusterId}`,
      `member:    ${info.member} (etcd ${info.version})`,
      `leader:    ${info.leader.name || '?'} (${info.leader.id})`,
      `raft term: ${info.raftTerm}`,
      `revision:  ${info.revision}`,
      `members:   ${members.length}`,
      ...members.map((m) => `  ${m.leader ? '*' : ' '} ${m.name} ${m.id} ${m.clientURLs.join(',')}`),
    ].join('\n');
    emit(io, p.json, text, info);
    return ExitCode.OK;
  });
}
