/**
 * The Docker fallback: a single etcd node in a container through testcontainers. Imported lazily
 * by {@link startEtcd}, so runs that use an external cluster or the binary never load testcontainers.
 *
 * @module
 */
import { GenericContainer, Wait, getContainerRuntimeClient } from 'testcontainers';
import { Cluster } from './etcd-cluster.js';

/** The etcd project's own image; 3.5 speaks the same v3 API as the 3.4 binary used elsewhere. */
export const ETCD_IMAGE = 'gcr.io/etcd-development/etcd:v3.5.17';

/**
 * Resolves true if testcontainers finds a working container runtime within `timeoutMs`.
 * testcontainers probes several strategies (socket, DOCKER_HOST, Podman…) and can be slow to give up.
 */
export async function containerRuntimeReachable(timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const probe = getContainerRuntimeClient().then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts one etcd container with a random host port; `stop()` removes it. */
export async function startContainer(): Promise<Cluster> {
  const container = await new GenericContainer(ETCD_IMAGE)
    .withCommand([
      'etcd',
      '--name=m0',
      '--listen-client-urls=http://0.0.0.0:2379',
      '--advertise-client-urls=http://127.0.0.1:2379',
      '--heartbeat-interval=50',
      '--election-timeout=500',
      '--log-level=error',
    ])
    .withExposedPorts(2379)
    .withWaitStrategy(Wait.forHttp('/health', 2379).forStatusCode(200))
    .start();
  const endpoint = `${container.getHost()}:${container.getMappedPort(2379)}`;
  return new Cluster('container', [endpoint], [], async () => {
    await container.stop();
  });
}
