/**
 * Names the workers and the runner share (keys are relative to the campaign's namespace).
 *
 * @module
 */
export const NAMESPACE = 'torture/';
export const MUTEX_NAME = 'mutex/lock';
export const MUTEX_COUNT_KEY = 'mutex/count';
export const ELECTION_NAME = 'election/leader';
export const ELECTION_LOG_KEY = 'election/log';
export const SERVICE = 'torture-svc';
export const CONFIG_PREFIX = 'config/';
export const CONFIG_KEYS = ['a', 'b', 'c'] as const;
export const QUEUE = 'torture-jobs';
export const DEAD_LETTER = 'torture-jobs.dead';
export const QUEUE_OPTIONS = { maxAttempts: 1_000_000, deadLetter: DEAD_LETTER } as const;
export const COUNTER_NAME = 'counter/ids';
export const ATOMIC_NAME = 'counter/atomic';
/** `once` job: keys under `once/<job>/<slot>/` (lock keys under `…/lock/`, the record at `…/record`). */
export const ONCE_JOB = 'torture-job';
export const ONCE_PREFIX = `once/${ONCE_JOB}/`;
export const CRON_JOB = 'torture-cron';
export const LEADER_NAME = 'leader/run';
/** Lock and election names whose holder keys must be gone at quiesce (ghost-key checker). */
export const HOLDER_PREFIXES = [
  `${MUTEX_NAME}/`,
  `${ELECTION_NAME}/`,
  `${LEADER_NAME}/`,
  ONCE_PREFIX,
] as const;
