/**
 * A queue worker: `process()` runs a handler on jobs from the "emails" queue, four at a time. A handler
 * that resolves acks its job; one that throws nacks it with a delay; after `maxAttempts` deliveries the job
 * lands in "emails.dead". Kill the worker at any moment: its claims vanish with its lease and another
 * worker gets the jobs again (at-least-once), so the handler is idempotent (it records what it sent).
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/worker.ts            # work until Ctrl-C
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/worker.ts push 20    # enqueue 20 jobs and exit
 *
 * With EXAMPLE_SMOKE=1 it enqueues a few jobs (one of them failing every time) on a fresh namespace,
 * processes them, checks the dead letter, and removes its keys, within a few seconds.
 */
import { connect, type Job } from '../src/index.js';

interface Email {
  to: string;
  subject: string;
}

const smoke = process.env.EXAMPLE_SMOKE === '1';
const endpoints = (process.env.ETCD_ENDPOINTS ?? '127.0.0.1:2379').split(',');
const namespace = smoke ? `examples/worker-${process.pid}/` : 'examples/worker/';

const coord = await connect({ endpoints, namespace, ttlSeconds: 5 });
const emails = coord.queue<Email>('emails', { maxAttempts: 3 });
const sent = new Set<string>(); // stands in for "already sent" records in your database

async function send(job: Job<Email>, signal: AbortSignal): Promise<void> {
  if (sent.has(job.id)) return; // idempotent: a redelivered job that was already sent is just acked
  signal.throwIfAborted(); // the claim may be gone: do not start the side effect
  if (job.payload.to.endsWith('@invalid')) throw new Error(`cannot deliver to ${job.payload.to}`);
  sent.add(job.id);
  console.log(
    `sent #${job.id} (attempt ${job.attempt}, priority ${job.priority}) to ${job.payload.to}: ${job.payload.subject}`,
  );
}

try {
  if (process.argv[2] === 'push') {
    const n = Number(process.argv[3] ?? 10);
    for (let i = 0; i < n; i++)
      await emails.push({ to: `user${i}@example.com`, subject: `hello ${i}` }, { priority: i % 2 });
    console.log(`pushed ${n} jobs; queue size ${await emails.size()}`);
  } else {
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    process.once('SIGTERM', () => stop.abort());
    if (smoke) {
      await emails.push({ to: 'a@example.com', subject: 'welcome' });
      await emails.push({ to: 'ops@example.com', subject: 'urgent' }, { priority: 9 });
      await emails.push({ to: 'b@example.com', subject: 'later' }, { delayMs: 300 });
      await emails.push({ to: 'nobody@invalid', subject: 'bounces' });
    }
    const working = emails.process(send, {
      concurrency: 4,
      signal: stop.signal,
      retryDelayMs: 100,
      onError: (err, job) =>
        console.log(`job #${job?.id ?? '?'} failed: ${err instanceof Error ? err.message : String(err)}`),
    });
    if (smoke) {
      const dead = coord.queue<Email>('emails.dead');
      const letter = await dead.pop({ timeoutMs: 20_000 });
      console.log(
        `dead letter: ${letter.payload.to} after ${letter.deadLetter?.attempts} attempts (was #${letter.deadLetter?.id})`,
      );
      await letter.ack();
      await dead.close();
      // The delayed job is sent 300 ms after it was pushed.
      for (let i = 0; i < 100 && sent.size < 3; i++) await new Promise((r) => setTimeout(r, 50));
      stop.abort();
      await working;
      if (sent.size !== 3 || (await emails.size()) !== 0)
        throw new Error(`smoke check failed: sent ${sent.size}`);
      console.log(`stats: ${JSON.stringify(emails.stats)}`);
    } else {
      console.log('working; Ctrl-C to stop');
      await working;
    }
  }
} finally {
  await emails.close();
  if (smoke) await coord.client.delete().prefix(coord.keyspace.key(''));
  await coord.close();
}
