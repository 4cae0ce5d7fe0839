export { Election, type ElectionOptions } from './election.js';
export { Term } from './term.js';
export { type LeaderInfo, type CampaignValue } from './leader.js';
export { runAsLeader, type RunAsLeaderOptions } from './run-as-leader.js';
export {
  once,
  type OnceOptions,
  type OnceResult,
  type OnceRecord,
  type OnceAttempt,
  type OnceSlot,
  SlotSkipped,
} from './once.js';
