/**
 * vitest globalSetup: ONE shared single-node etcd for the whole run (or the `ETCD_ENDPOINTS`
 * cluster), handed to test workers as `inject('etcdEndpoints')`. Tests isolate themselves with a
 * random key prefix (see `useSharedEtcd` in shared.ts); fault tests start private clusters.
 *
 * Failure modes: without any etcd the run fails here, once, with the {@link EtcdUnavailableError}
 * message saying how to get one (unit tests included: the whole run requires etcd).
 *
 * @module
 */
import type { TestProject } from 'vitest/node';
import { startEtcd } from './etcd.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Client endpoints 'host:port' of the shared etcd. */
    etcdEndpoints: string[];
  }
}

/** Starts the shared etcd and returns the teardown that stops it. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cluster = await startEtcd({ members: 1 });
  project.provide('etcdEndpoints', cluster.endpoints);
  return () => cluster.stop();
}
