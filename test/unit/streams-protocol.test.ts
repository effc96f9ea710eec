// The pod streams protocol's wire shapes: `optional` fields stay absent when
// unset (tail 0 differs from no tail), oneofs round-trip, errors keep their code.
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../api/index.js';
import { podStreamsDefinition, streamErrorFromGrpc, streamErrorToGrpc } from '../../api/streams-protocol.js';

describe('pod streams protocol', () => {
  const { service } = podStreamsDefinition();

  it('keeps tailLines 0 apart from an unset tailLines', () => {
    const m = service.Logs!;
    const zero = m.requestDeserialize(m.requestSerialize({ pod: { namespace: 'a', name: 'b' }, container: 'c', tailLines: 0 }));
    const unset = m.requestDeserialize(m.requestSerialize({ pod: { namespace: 'a', name: 'b' }, container: 'c' }));
    expect(zero.tailLines).toBe(0);
    expect(unset.tailLines).toBeUndefined();
    expect(unset.sinceSeconds).toBeUndefined();
  });

  it('round-trips each exec input and output kind', () => {
    const m = service.Exec!;
    const out = (v: unknown) => m.responseDeserialize(m.responseSerialize(v));
    const inp = (v: unknown) => m.requestDeserialize(m.requestSerialize(v));
    expect(out({ exitCode: 0 })).toMatchObject({ output: 'exitCode', exitCode: 0 });
    expect(out({ exitCode: 3 })).toMatchObject({ output: 'exitCode', exitCode: 3 });
    expect(out({ stdout: Buffer.from('hi') })).toMatchObject({ output: 'stdout' });
    expect(Buffer.from(out({ stderr: Buffer.from('oops') }).stderr).toString()).toBe('oops');
    expect(out({ started: true })).toMatchObject({ output: 'started', started: true });
    const start = inp({ start: { pod: { namespace: 'a', name: 'b', uid: 'u' }, container: 'c', command: ['sh', '-c', 'x'], stdin: true } });
    expect(start).toMatchObject({ input: 'start', start: { pod: { namespace: 'a', name: 'b', uid: 'u' }, command: ['sh', '-c', 'x'], stdin: true } });
    expect(inp({ stdinClose: true })).toMatchObject({ input: 'stdinClose' });
  });

  it('carries the error code across, and a peer that never answered is Unavailable', () => {
    const g = streamErrorToGrpc(new NotFoundError('container "x" not found'));
    expect(g.code).toBe(grpc.status.NOT_FOUND);
    const back = streamErrorFromGrpc(g, 'logs');
    expect(back.code).toBe('NotFound');
    expect(back.message).toBe('container "x" not found');
    const refused = streamErrorFromGrpc(Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: grpc.status.UNAVAILABLE, details: 'No connection established' }), 'node n1');
    expect(refused.code).toBe('Unavailable');
    expect(refused.message).toBe('node n1: No connection established');
  });
});
