/**
 * What an error from the etcd client says about where the request got to: never sent (safe to send to
 * another member, even a write) or possibly delivered (the outcome is unknown). Also what kind of error
 * it is, read from what it carries rather than from `instanceof`, so an `etcd3` client loaded from
 * another copy of the package is understood the same way (issue 16, finding 5).
 *
 * @module
 */

/** gRPC status codes (grpc/doc/statuscodes.md), the ones this library acts on. */
export const GrpcStatus = {
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/**
 * The names of an error's classes, most derived first (`['GRPCUnavailableError', 'GRPCGenericError',
 * 'Error']`). etcd3's error classes are its API: their names are the same in every copy of the package,
 * where `instanceof` only works against the copy this library imported.
 */
export function errorClassNames(err: unknown): string[] {
  const names: string[] = [];
  if (typeof err !== 'object' || err === null) return names;
  for (let proto = Object.getPrototypeOf(err) as object | null; proto; proto = Object.getPrototypeOf(proto)) {
    const ctor = (proto as { constructor?: { name?: unknown } }).constructor;
    if (typeof ctor?.name === 'string' && ctor.name !== 'Object') names.push(ctor.name);
  }
  return names;
}

/** True when the error is an instance of a class named `name` (in any copy of the package). */
export function hasClassName(err: unknown, name: string): boolean {
  return errorClassNames(err).includes(name);
}

/**
 * The gRPC status code an error stands for: grpc-js's own `code` property when the error is raw, else the
 * one etcd3 keeps in the message (it re-creates errors from `message` only, which grpc-js formats as
 * `"<code> <NAME>: <details>"`), else the one implied by etcd3's class name.
 */
export function grpcStatusCode(err: unknown): number | undefined {
  if (!(err instanceof Error) && (typeof err !== 'object' || err === null)) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number') return code;
  const message = (err as { message?: unknown }).message;
  const m = typeof message === 'string' ? /^(\d{1,2}) [A-Z_]+: /.exec(message) : null;
  if (m) return Number(m[1]);
  const byName: Record<string, number> = {
    GRPCCancelledError: GrpcStatus.CANCELLED,
    GRPCDeadlineExceededError: GrpcStatus.DEADLINE_EXCEEDED,
    GRPCInternalError: GrpcStatus.INTERNAL,
    GRPCUnavailableError: GrpcStatus.UNAVAILABLE,
    GRPCOutOfRangeError: GrpcStatus.OUT_OF_RANGE,
    GRPCUnauthenticatedError: GrpcStatus.UNAUTHENTICATED,
    GRPCResourceExhastedError: GrpcStatus.RESOURCE_EXHAUSTED,
    GRPCUnknownError: GrpcStatus.UNKNOWN,
    GRPCAbortedError: GrpcStatus.ABORTED,
    EtcdPermissionDeniedError: GrpcStatus.PERMISSION_DENIED,
  };
  for (const name of errorClassNames(err)) if (byName[name] !== undefined) return byName[name];
  return undefined;
}

/** Thrown by the endpoint policy instead of sending a request to a member it is skipping. Never sent. */
export class EndpointSkipped extends Error {
  constructor(readonly endpoint: string) {
    super(`endpoint ${endpoint} skipped: not connected or backing off`);
    this.name = 'EndpointSkipped';
  }
}

/**
 * A request a member refused before it was sent (see {@link wasNeverSent}), re-thrown by the endpoint
 * policy so etcd3 does not tear down that member's channels. Same message; the original is the `cause`.
 */
export class EndpointRefused extends Error {
  constructor(cause: Error) {
    super(cause.message, { cause });
    this.name = 'EndpointRefused';
  }
}

/**
 * etcd's answers that refuse a request before it is proposed to raft or served (etcd's rpctypes, checked in
 * its gRPC interceptors and admission checks): the member did nothing, another member may do it.
 */
const ETCD_REFUSALS = [
  'etcdserver: no leader',
  'etcdserver: not capable',
  'etcdserver: unhealthy cluster',
  'etcdserver: too many requests',
  'etcdserver: rpc not supported for learner',
];

/**
 * True when the request provably never reached etcd's application code, so sending it (even a write) to
 * another member cannot apply it twice.
 *
 * grpc-js gives no structured signal for this: the "progress" it tracks per call (`NOT_STARTED`,
 * `REFUSED`, `DROP`, `PROCESSED`) is stripped before the status reaches the caller, and a pick that failed
 * because the channel had no connection is reported with the same code (UNAVAILABLE) as a connection that
 * broke mid-request. The details text is the only signal, so it is read here and nowhere else:
 * - `No connection established` (also `round_robin: No connection established`): the load balancer had no
 *   connected subchannel (connection refused or reset before the call, DNS failure, a channel in
 *   TRANSIENT_FAILURE); the call was failed at pick time, before a stream existed.
 * - `DEADLINE_EXCEEDED` whose details end in `Waiting for LB pick` or `waiting for name resolution`: the
 *   deadline passed while the call was still queued for a connection (e.g. a blackholed endpoint whose
 *   HTTP/2 handshake never completes).
 * - `Name resolution failed`: no address to send to.
 * - etcd's own refusals ({@link ETCD_REFUSALS}), answered before the request is proposed.
 * - {@link EndpointSkipped}: our endpoint policy refused to use a member; cockatiel's `BrokenCircuitError`
 *   (structured: `isBrokenCircuitError`): etcd3's default breaker did.
 *
 * Anything else (a reset mid-call, `Connection dropped`, a deadline after the pick) may have been
 * delivered and is not in this class. Unit-tested against the exact texts in `test/unit/core.refused.test.ts`.
 */
export function wasNeverSent(err: unknown): boolean {
  if (err instanceof EndpointSkipped || err instanceof EndpointRefused) return true;
  if (!(err instanceof Error)) return false;
  // cockatiel's marker: etcd3's default breaker (a client given to `connect`) refused to run the call.
  if ((err as { isBrokenCircuitError?: unknown }).isBrokenCircuitError === true) return true;
  const code = grpcStatusCode(err);
  const text = err.message;
  if (code === GrpcStatus.UNAVAILABLE && /(^|: )(round_robin: )?No connection established/.test(text))
    return true;
  if (code === GrpcStatus.UNAVAILABLE && /Name resolution failed/.test(text)) return true;
  if (
    code === GrpcStatus.DEADLINE_EXCEEDED &&
    /(Waiting for LB pick|waiting for name resolution)$/.test(text)
  )
    return true;
  return ETCD_REFUSALS.some((refusal) => text.includes(refusal));
}

/**
 * True for errors that say the member is not serving (unreachable, too slow, or refusing): a reason to
 * prefer other members for a while. An application error (permission, conflict, lease not found) is not.
 */
export function isEndpointFailure(err: unknown): boolean {
  if (err instanceof EndpointSkipped) return false;
  if (wasNeverSent(err)) return true;
  const code = grpcStatusCode(err);
  return code === GrpcStatus.UNAVAILABLE || code === GrpcStatus.DEADLINE_EXCEEDED;
}
