// The NodeService calls of the network plugin: network config, this node's
// subnet lease (acquire/renew) and the watch of everyone's leases.
import type * as grpc from '@grpc/grpc-js';
import { BadRequestError, ForbiddenError, type Logger, type Node } from '../../api/index.js';
import { toJsonBytes } from '../../api/agent-protocol.js';
import { VXLAN_BACKEND, vxlanBackend, type LeaseAttrs } from '../../netplugin/index.js';
import { callerNode, toGrpcError } from '../agentapi/node-service.js';
import type { Store } from '../storage/store.js';
import type { SubnetRegistry } from './subnet-registry.js';

interface AcquireReq {
  nodeName: string;
  publicIp: string;
  backendType: string;
  vtepMac: string;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const IP_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function attrsOf(node: string, r: AcquireReq): LeaseAttrs {
  if (r.nodeName && r.nodeName !== node) throw new ForbiddenError(`node "${node}" may only lease a subnet for itself, not "${r.nodeName}"`);
  if (!IP_RE.test(r.publicIp ?? '') || r.publicIp.split('.').some((o) => Number(o) > 255)) {
    throw new BadRequestError(`public_ip: invalid IPv4 address "${r.publicIp ?? ''}"`);
  }
  // The request's backend fields are the VXLAN backend's (the only one served); the lease keeps them opaque.
  if ((r.backendType || VXLAN_BACKEND) !== VXLAN_BACKEND) throw new BadRequestError(`backend_type: unsupported backend "${r.backendType}" (only vxlan)`);
  if (!MAC_RE.test(r.vtepMac ?? '')) throw new BadRequestError(`vtep_mac: invalid MAC address "${r.vtepMac ?? ''}"`);
  return { publicIP: r.publicIp, backend: vxlanBackend(r.vtepMac.toLowerCase()) };
}

export function subnetHandlers(registry: SubnetRegistry, store: Store, log: Logger): grpc.UntypedServiceImplementation {
  const wrap =
    <Req, Res>(name: string, fn: (call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>) =>
    (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => {
      fn(call).then(
        (r) => cb(null, r),
        (e) => {
          log.info({ rpc: name, err: (e as Error).message }, 'subnet call refused');
          cb(toGrpcError(e));
        },
      );
    };

  async function recordPodCIDR(node: string, subnet: string): Promise<void> {
    await store
      .guaranteedUpdate<Node>({ resource: 'nodes', name: node }, (cur) =>
        cur.spec?.podCIDR === subnet ? cur : { ...cur, spec: { ...cur.spec, podCIDR: subnet, podCIDRs: [subnet] } },
      )
      .catch((e) => log.warn({ node, err: (e as Error).message }, 'could not record the node podCIDR'));
  }

  return {
    GetNetworkConfig: wrap('GetNetworkConfig', async (call) => {
      callerNode(call);
      return { configJson: toJsonBytes(await registry.getConfig()) };
    }),
    AcquireSubnetLease: wrap<AcquireReq, { leaseJson: Buffer }>('AcquireSubnetLease', async (call) => {
      const node = callerNode(call);
      const lease = await registry.acquire(node, attrsOf(node, call.request));
      await recordPodCIDR(node, lease.subnet);
      return { leaseJson: toJsonBytes(lease) };
    }),
    RenewSubnetLease: wrap<AcquireReq, { leaseJson: Buffer }>('RenewSubnetLease', async (call) => {
      const node = callerNode(call);
      const lease = await registry.renew(node, attrsOf(node, call.request));
      return { leaseJson: toJsonBytes(lease) };
    }),
    WatchSubnetLeases: (call: grpc.ServerWritableStream<unknown, { type: string; leaseJson: Buffer; leasesJson: Buffer[] }>) => {
      try {
        callerNode(call);
      } catch (e) {
        call.destroy(toGrpcError(e));
        return;
      }
      const ac = new AbortController();
      call.on('cancelled', () => ac.abort());
      call.on('close', () => ac.abort());
      void (async () => {
        for await (const r of registry.watch(ac.signal)) {
          if (r.kind === 'snapshot') call.write({ type: 'snapshot', leaseJson: Buffer.alloc(0), leasesJson: r.leases.map((l) => toJsonBytes(l)) });
          else for (const ev of r.events) call.write({ type: ev.type, leaseJson: toJsonBytes(ev.lease), leasesJson: [] });
        }
      })().then(
        () => call.end(),
        (e) => {
          if (!ac.signal.aborted) call.destroy(toGrpcError(e));
        },
      );
    },
  };
}
