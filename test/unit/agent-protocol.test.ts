import { describe, expect, it } from 'vitest';
import { bootstrapServiceDefinition, fromJsonBytes, nodeServiceDefinition, toJsonBytes } from '../../api/agent-protocol.js';

describe('[protocol] the agent protocol', () => {
  it('defines the node service calls agents use', () => {
    const { service } = nodeServiceDefinition();
    expect(Object.keys(service).sort()).toEqual(
      [
        'AcquireSubnetLease',
        'ConfirmPodDeleted',
        'GetConfigObject',
        'GetNetworkConfig',
        'Heartbeat',
        'RecordEvent',
        'RegisterNode',
        'RenewSubnetLease',
        'UpdatePodStatus',
        'WatchPods',
        'WatchServices',
        'WatchSubnetLeases',
      ].sort(),
    );
    expect(service.WatchPods?.responseStream).toBe(true);
    expect(service.WatchServices?.responseStream).toBe(true);
    expect(service.UpdatePodStatus?.responseStream).toBe(false);
    // A get the agent repeats (TTL cache), not a stream: every read is authorized against the pod as it is now.
    expect(service.GetConfigObject?.responseStream).toBe(false);
  });

  it('keeps Join on its own bootstrap service, the only one without a client certificate', () => {
    expect(Object.keys(bootstrapServiceDefinition().service)).toEqual(['Join']);
  });

  it('carries objects as JSON bytes and treats empty bytes as absent', () => {
    const pod = { metadata: { name: 'web' } };
    expect(fromJsonBytes(toJsonBytes(pod))).toEqual(pod);
    expect(fromJsonBytes(Buffer.alloc(0))).toBeUndefined();
  });
});
