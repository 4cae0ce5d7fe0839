import { describe, expect, it } from 'vitest';
import { castGrpcError, GRPCDeadlineExceededError, GRPCUnavailableError } from 'etcd3';
import { EndpointSkipped, grpcStatusCode, isEndpointFailure, wasNeverSent } from '../../src/core/refused.js';
import { toCoordError, UnavailableError } from '../../src/core/errors.js';

/** An error as grpc-js builds it (`callErrorFromStatus`), then as etcd3 re-creates it. */
function grpcError(code: number, name: string, details: string): Error {
  const raw = Object.assign(new Error(`${code} ${name}: ${details}`), { code, details });
  return castGrpcError(raw);
}

describe('wasNeverSent: which failures prove the request never reached etcd', () => {
  const neverSent = [
    grpcError(
      14,
      'UNAVAILABLE',
      'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1 (2026-12-03T17:39:40.000Z). Resolution note: ',
    ),
    grpcError(14, 'UNAVAILABLE', 'round_robin: No connection established. Last error: read ECONNRESET'),
    grpcError(14, 'UNAVAILABLE', 'Name resolution failed for target dns:nowhere.invalid:2379'),
    grpcError(
      4,
      'DEADLINE_EXCEEDED',
      'Deadline exceeded after 5.000s,name resolution: 0.001s,Waiting for LB pick',
    ),
    grpcError(4, 'DEADLINE_EXCEEDED', 'Deadline exceeded after 1.002s,waiting for name resolution'),
    grpcError(14, 'UNAVAILABLE', 'etcdserver: no leader'),
    grpcError(14, 'UNAVAILABLE', 'etcdserver: unhealthy cluster'),
    grpcError(8, 'RESOURCE_EXHAUSTED', 'etcdserver: too many requests'),
    new EndpointSkipped('127.0.0.1:2379'),
  ];
  const mayHaveArrived = [
    grpcError(14, 'UNAVAILABLE', 'Connection dropped'),
    grpcError(14, 'UNAVAILABLE', 'read ECONNRESET'),
    grpcError(
      4,
      'DEADLINE_EXCEEDED',
      'Deadline exceeded after 5.001s,LB pick: 0.000s,remote_addr=127.0.0.1:2379',
    ),
    grpcError(14, 'UNAVAILABLE', 'etcdserver: request timed out'),
    grpcError(14, 'UNAVAILABLE', 'etcdserver: leader changed'),
    grpcError(1, 'CANCELLED', 'Call cancelled'),
    new Error('No connection established'),
  ];

  it.each(neverSent.map((e) => [e.message, e]))('never sent: %s', (_, err) => {
    expect(wasNeverSent(err)).toBe(true);
    expect(isEndpointFailure(err)).toBe(!(err instanceof EndpointSkipped));
    const coord = toCoordError(err, 'put', false);
    expect(coord).toBeInstanceOf(UnavailableError);
    expect((coord as Error).message).toMatch(/not applied/);
  });

  it.each(mayHaveArrived.map((e) => [e.message, e]))('may have been delivered: %s', (_, err) => {
    expect(wasNeverSent(err)).toBe(false);
  });

  it('a write that may have been delivered keeps mayHaveApplied', () => {
    const coord = toCoordError(grpcError(14, 'UNAVAILABLE', 'Connection dropped'), 'put', true);
    expect(coord).toBeInstanceOf(UnavailableError);
    expect((coord as UnavailableError).mayHaveApplied).toBe(true);
  });

  it('reads the status code from grpc-js errors, etcd3 messages and etcd3 class names', () => {
    expect(grpcStatusCode(Object.assign(new Error('x'), { code: 14 }))).toBe(14);
    expect(grpcStatusCode(grpcError(4, 'DEADLINE_EXCEEDED', 'Deadline exceeded'))).toBe(4);
    expect(grpcStatusCode(new GRPCUnavailableError('no code in this message'))).toBe(14);
    expect(grpcStatusCode(new GRPCDeadlineExceededError('no code'))).toBe(4);
    expect(grpcStatusCode(new Error('plain'))).toBeUndefined();
  });
});
