/**
 * `etcd-coord lock` supervisor worker: see cli-common.ts.
 *
 * @module
 */
import { runCliWorker } from './cli-common.js';

await runCliWorker('lock');
