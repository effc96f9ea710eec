// imagePullSecrets on a real registry that demands htpasswd (Basic) auth: the
// node runtime pulls with the credentials of the pod's Secret; without them,
// or with a wrong password, the pull fails as ErrImagePull naming the 401.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pod } from '../../api/index.js';
import type { Secret } from '../../api/kinds/secret.js';
import { openLayout, pullCredentials, pushImage, RegistryClient } from '../../node-agent/index.js';
import { ContainerStartError } from '../../node-agent/pod-runtime.js';
import { startRuntimeFixture, type RuntimeFixture } from '../helpers/node-runtime.js';
import { buildTestImage, startRegistry, type LocalRegistry } from '../helpers/registry.js';

const USER = 'puller';
const PASSWORD = 's3cret-pass';
const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

function dockerConfigSecret(name: string, host: string, username: string, password: string): Secret {
  const json = JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${username}:${password}`).toString('base64') } } });
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: 'default' },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(json).toString('base64') },
  } as Secret;
}

describe('[node runtime] imagePullSecrets against a registry with htpasswd auth', () => {
  let priv: LocalRegistry;
  let fx: RuntimeFixture;
  let image: string;
  const pods: Pod[] = [];

  beforeAll(async () => {
    priv = await startRegistry({ htpasswd: { username: USER, password: PASSWORD } });
    // Every 127.0.0.1 registry is spoken to over plain HTTP (the fixture's and the private one).
    fx = await startRuntimeFixture('the imagePullSecrets suite', { insecureRegistries: ['127.0.0.1'] });
    const built = buildTestImage(join(fx.tmp, 'private-image'));
    image = `${priv.host}/team/private:1.0`;
    await pushImage(new RegistryClient({ insecureRegistries: [priv.host], credentials: () => ({ username: USER, password: PASSWORD }) }), openLayout(built.dir), undefined, image);
  });
  afterAll(async () => {
    for (const p of pods) await fx?.runtime.killPod(p, 0).catch(() => undefined);
    await fx?.cleanup();
    await priv?.stop();
  });

  async function start(name: string, secrets: Secret[] | undefined) {
    const pod = fx.pod(name, [{ name: 'c', image, imagePullPolicy: 'Always', command: SLEEP }], secrets ? { imagePullSecrets: secrets.map((s) => ({ name: s.metadata.name! })) } : {});
    pods.push(pod);
    const sandbox = await fx.runtime.createSandbox(pod);
    const config = secrets ? { env: [], pullCredentials: pullCredentials(secrets).lookup } : undefined;
    return { pod, result: await fx.runtime.startContainer(pod, sandbox, pod.spec.containers[0]!, 0, config).then(() => undefined, (e: unknown) => e) };
  }

  it('without a pull secret the pull fails with ErrImagePull naming the registry 401', async () => {
    const { result } = await start('nosecret', undefined);
    expect(result).toBeInstanceOf(ContainerStartError);
    expect((result as ContainerStartError).reason).toBe('ErrImagePull');
    expect((result as ContainerStartError).message).toContain(`failed to pull image "${image}"`);
    expect((result as ContainerStartError).message).toContain(`${priv.host} answered 401`);
  });

  it('with a wrong password the pull fails with the 401 too', async () => {
    const { result } = await start('wrong', [dockerConfigSecret('bad-creds', priv.host, USER, 'not-the-password')]);
    expect((result as ContainerStartError).reason).toBe('ErrImagePull');
    expect((result as ContainerStartError).message).toContain('answered 401');
  });

  it('with the dockerconfigjson Secret the image is pulled and the container runs', async () => {
    const { pod, result } = await start('good', [dockerConfigSecret('other', 'quay.io', 'x', 'y'), dockerConfigSecret('regcred', `http://${priv.host}/v2/`, USER, PASSWORD)]);
    expect(result).toBeUndefined();
    let out = '';
    const code = await fx.runtime.exec(pod, 'c', { command: ['cat', '/etc/flotilla-release'], onStdout: (b) => (out += Buffer.from(b).toString()), onStderr: () => undefined });
    expect(code).toBe(0);
    expect(out).toBe('flotilla test image\n');
  });
});
