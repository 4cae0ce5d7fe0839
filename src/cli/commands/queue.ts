/**
 * `etcd-coord queue push|pop|size|work <name>`: the work queue from the shell; `work` runs a command per
 * job with the payload on its stdin (exit 0 acks, anything else nacks).
 *
 * @module
 */
import { GLOBAL_HELP, connectOptions, durationOption, intOption, parseCommand } from '../args.js';
import { withCoordinator } from '../coordinator.js';
import { CliError, ExitCode, UsageError } from '../exit-codes.js';
import { emit, printHelp, type CliIo } from '../io.js';
import { work } from './queue-work.js';
import { AbortedError, type Coordinator, type Job, type Queue, type QueueCodec } from '../../index.js';

const OPTIONS = {
  priority: { type: 'string' },
  delay: { type: 'string' },
  timeout: { type: 'string' },
  concurrency: { type: 'string' },
  'max-jobs': { type: 'string' },
  'retry-delay': { type: 'string' },
  'max-attempts': { type: 'string' },
  'kill-after': { type: 'string' },
  grace: { type: 'string' },
} as const;

export const help = `Usage: etcd-coord queue push <name> [<payload>] [--priority N] [--delay 10s]
       etcd-coord queue pop <name> [--timeout 30s]
       etcd-coord queue size <name>
       etcd-coord queue work <name> [--concurrency 1] [--max-jobs N] [--retry-delay 0s]
                             [--max-attempts 5] [--kill-after 5s] [--grace 30s] -- <cmd…>

An at-least-once queue: a job popped by a consumer that dies becomes visible again. Payloads are bytes,
stored as given (push JSON if library consumers use the default JSON codec).
  push   adds <payload> (or stdin when absent); prints the job id. --priority 0..999999 (higher first),
         --delay: not handed out before then.
  pop    takes one job (waiting for one), prints its payload, and acks it. --timeout: exit 75 if none came.
         With --json: {"id", "attempt", "priority", "payload"}.
  size   prints the number of jobs (visible, delayed and claimed).
  work   runs <cmd> once per job with the payload on its stdin (ETCD_COORD_JOB_ID, ETCD_COORD_JOB_ATTEMPT
         in its environment): exit 0 acks the job, anything else nacks it (redelivered after --retry-delay;
         after --max-attempts deliveries it moves to the dead-letter queue <name>.dead). If the claim is
         lost or at risk while <cmd> runs, <cmd> gets SIGTERM (SIGKILL after --kill-after, and before the
         lease can expire) and the job is redelivered. Runs until --max-jobs jobs were taken, or until
         SIGINT/SIGTERM (exit 0): then no more jobs are taken, the signal is forwarded to the running
         commands and they get --grace to finish: one that exits 0 is acked; one killed by the signal
         (or SIGKILLed when --grace runs out) is given back at once without counting the delivery;
         any other status nacks as usual.

Exit status: 0; 75 pop timed out; 69 etcd unavailable; 64 usage (also a payload over etcd's size limit).

Examples:
  etcd-coord queue push emails '{"to": "a@example.com"}' --priority 5
  etcd-coord queue work emails --concurrency 4 -- ./send-email.sh
  etcd-coord queue pop emails --timeout 30s --json
  etcd-coord queue size emails`;

/** Payloads as raw bytes: what the shell pushes is what the worker's stdin gets. */
const RAW: QueueCodec<Buffer> = { encode: (payload) => payload, decode: (bytes) => bytes };

/** Runs `queue`. */
export async function run(args: readonly string[], io: CliIo): Promise<number> {
  const p = parseCommand(args, OPTIONS, 'queue');
  if (p.help) return printHelp(io, help, GLOBAL_HELP);
  const [sub, name, ...rest] = p.positionals;
  if (sub === undefined) throw new UsageError('missing <push|pop|size|work>', 'queue');
  if (!['push', 'pop', 'size', 'work'].includes(sub))
    throw new UsageError(`unknown subcommand "${sub}" (expected push, pop, size or work)`, 'queue');
  if (name === undefined) throw new UsageError('missing <name>', 'queue');
  if (rest.length > (sub === 'push' ? 1 : 0))
    throw new UsageError(`unexpected argument "${rest[sub === 'push' ? 1 : 0] ?? ''}"`, 'queue');
  const maxAttempts = intOption(p, 'max-attempts', 'queue', 1, 1_000_000);
  const opts = connectOptions(p, io, 'queue');
  const open = (coord: Coordinator): Queue<Buffer> =>
    coord.queue<Buffer>(name, { codec: RAW, ...(maxAttempts === undefined ? {} : { maxAttempts }) });

  switch (sub) {
    case 'push': {
      const priority = intOption(p, 'priority', 'queue', 0, 999_999);
      const delayMs = durationOption(p, 'delay', 'queue');
      const payload = rest[0] !== undefined ? Buffer.from(rest[0]) : await readAll(io);
      return withCoordinator(opts, io, async (coord) => {
        const q = open(coord);
        const id = await q.push(payload, {
          signal: io.signal,
          ...(priority === undefined ? {} : { priority }),
          ...(delayMs === undefined ? {} : { delayMs }),
        });
        emit(io, p.json, id, { id });
        return ExitCode.OK;
      });
    }
    case 'size':
      return withCoordinator(opts, io, async (coord) => {
        const size = await open(coord).size({ signal: io.signal });
        emit(io, p.json, String(size), { size });
        return ExitCode.OK;
      });
    case 'pop': {
      const timeoutMs = durationOption(p, 'timeout', 'queue');
      return withCoordinator(opts, io, async (coord) => {
        const q = open(coord);
        let job: Job<Buffer>;
        try {
          job = await q.pop({ signal: io.signal, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
        } catch (err) {
          if (err instanceof AbortedError && !io.signal.aborted && timeoutMs !== undefined) {
            throw new CliError(`no job in queue "${name}" within ${timeoutMs} ms`, ExitCode.TIMED_OUT, {
              cause: err,
            });
          }
          throw err;
        }
        await job.ack();
        const text = job.payload.toString();
        if (p.json)
          emit(io, true, '', { id: job.id, attempt: job.attempt, priority: job.priority, payload: text });
        else io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
        return ExitCode.OK;
      });
    }
    default:
      return work(p, io, opts, name, open);
  }
}

async function readAll(io: CliIo): Promise<Buffer> {
  if (io.stdin.isTTY === true) throw new UsageError('missing <payload> (or pipe it on stdin)', 'queue');
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin)
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks);
}
