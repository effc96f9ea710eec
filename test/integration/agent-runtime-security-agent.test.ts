// securityContext and imagePullSecrets through the API, the compiled controller
// and an in-process agent on the real runtime: a Secret and pods created as a
// user creates them, the pod status the user then reads.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type Pod } from '../../api/index.js';
import { Agent } from '../../node-agent/agent.js';
import { ControllerClient } from '../../node-agent/controller-client.js';
import { joinCluster } from '../../node-agent/join/join.js';
import { openLayout, pushImage, RegistryClient } from '../../node-agent/index.js';
import { CONTROLLER_MAIN, controllerApi, startController, type StartedController } from '../helpers/controller.js';
import { startRuntimeFixture, waitFor, type RuntimeFixture } from '../helpers/node-runtime.js';
import { buildTestImage, startRegistry, type LocalRegistry } from '../helpers/registry.js';
import { requireBinaries } from '../helpers/require.js';

const log = silentLogger();
const NODE = 'sec-node-1';
const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];
let ctl: StartedController;
let fx: RuntimeFixture;
let priv: LocalRegistry;
let work: string;
let agent: Agent | undefined;
let privateImage: string;

const api = <T>(path: string, init: { method?: string; body?: unknown } = {}) => controllerApi<T>(ctl, path, init);
const getPod = async (name: string) => (await api<Pod>(`/api/v1/namespaces/default/pods/${name}`)).body;

async function createPod(name: string, spec: Record<string, unknown>): Promise<void> {
  const r = await api('/api/v1/namespaces/default/pods', {
    method: 'POST',
    body: { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { nodeName: NODE, terminationGracePeriodSeconds: 1, ...spec } },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

beforeAll(async () => {
  requireBinaries('the securityContext agent suite', 'etcd');
  if (!existsSync(CONTROLLER_MAIN)) throw new Error(`the securityContext agent suite needs the compiled controller (${CONTROLLER_MAIN}): run npm run build`);
  priv = await startRegistry({ htpasswd: { username: 'puller', password: 'pw-1' } });
  fx = await startRuntimeFixture('the securityContext agent suite', { insecureRegistries: ['127.0.0.1'] });
  const built = buildTestImage(join(fx.tmp, 'private-image'));
  privateImage = `${priv.host}/team/private:1.0`;
  await pushImage(new RegistryClient({ insecureRegistries: [priv.host], credentials: () => ({ username: 'puller', password: 'pw-1' }) }), openLayout(built.dir), undefined, privateImage);
  work = mkdtempSync(join(tmpdir(), 'flotilla-agent-sec-'));
  ctl = await startController();
  const cred = await joinCluster({ server: ctl.bootstrapAddress, token: ctl.joinToken, caHash: ctl.caHash, nodeName: NODE, stateDir: work, log });
  agent = new Agent({ client: new ControllerClient(cred), runtime: fx.runtime, nodeIP: '127.0.0.1', log, heartbeatMs: 500, relistMs: 500 });
  await agent.start();
}, 120_000);

afterAll(async () => {
  await agent?.stop().catch(() => undefined);
  await ctl?.stop();
  await fx?.cleanup();
  await priv?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('[agent] securityContext and imagePullSecrets through the API', () => {
  it('a pod with imagePullSecrets pulls from the private registry and runs; one without fails with ErrImagePull naming the 401', async () => {
    const dockerconfig = JSON.stringify({ auths: { [priv.host]: { auth: Buffer.from('puller:pw-1').toString('base64') } } });
    const s = await api('/api/v1/namespaces/default/secrets', {
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'regcred' }, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': Buffer.from(dockerconfig).toString('base64') } },
    });
    expect(s.status, JSON.stringify(s.body)).toBe(201);
    await createPod('nocreds', { containers: [{ name: 'c', image: privateImage, imagePullPolicy: 'Always', command: SLEEP }] });
    const w = await waitFor('nocreds waiting on its image', async () => {
      const st = (await getPod('nocreds')).status?.containerStatuses?.[0]?.state?.waiting;
      return st && /ErrImagePull|ImagePullBackOff/.test(st.reason ?? '') && st.message ? st : undefined;
    }, 60_000);
    expect(w.message).toContain('answered 401');
    await createPod('withcreds', { imagePullSecrets: [{ name: 'regcred' }], containers: [{ name: 'c', image: privateImage, imagePullPolicy: 'Always', command: SLEEP }] });
    await waitFor('withcreds Running', async () => (await getPod('withcreds')).status?.containerStatuses?.[0]?.state?.running !== undefined, 60_000);
  });

  it('runAsNonRoot on a root image waits with CreateContainerConfigError and the kubelet message', async () => {
    await createPod('nonroot', { containers: [{ name: 'c', image: fx.image, command: SLEEP, securityContext: { runAsNonRoot: true } }] });
    const uid = (await getPod('nonroot')).metadata.uid!;
    const w = await waitFor('nonroot waiting', async () => {
      const st = (await getPod('nonroot')).status?.containerStatuses?.[0]?.state?.waiting;
      return st?.reason === 'CreateContainerConfigError' ? st : undefined;
    }, 60_000);
    expect(w.message).toBe(`container has runAsNonRoot and image will run as root (pod: "nonroot_default(${uid})", container: c)`);
  });

  it('the API refuses a non-namespaced sysctl and a contradictory securityContext as kube-apiserver words it', async () => {
    const r = await api<{ message: string }>('/api/v1/namespaces/default/pods', {
      method: 'POST',
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'badsec' },
        spec: {
          securityContext: { sysctls: [{ name: 'kernel.panic', value: '1' }] },
          containers: [{ name: 'c', image: fx.image, securityContext: { privileged: true, allowPrivilegeEscalation: false } }],
        },
      },
    });
    expect(r.status).toBe(422);
    expect(r.body.message).toContain('spec.securityContext.sysctls[0].name: Forbidden: sysctl "kernel.panic" is not namespaced');
    expect(r.body.message).toContain('cannot set `allowPrivilegeEscalation` to false and `privileged` to true');
  });
});
