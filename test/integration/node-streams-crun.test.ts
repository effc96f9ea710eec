// The end-to-end proof of logs and exec: pods run by crun under conmon through
// the real NodeRuntime, driven by a real Agent joined to the real controller;
// flotctl and kubectl talk to the API server, which reaches the agent's stream
// port over mutual TLS. Nothing between the user and the container is a double.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pod } from '../../api/index.js';
import { startRuntimeFixture, type RuntimeFixture } from '../helpers/node-runtime.js';
import { CLI, KUBECTL_WS, KUBECTLS, startStreamsCluster, until, type StreamsCluster } from '../helpers/streams-cluster.js';

const NODE = `crun-streams-${process.pid}`;
let fx: RuntimeFixture;
let c: StreamsCluster;
let name: (s: string) => string;

// Writes a line to stderr, three to stdout (apart in time: the two pipes are not ordered), then waits for /tmp/go (made by an exec) to write another.
const LOGGER = [
  'sh',
  '-c',
  'echo to stderr >&2; sleep 0.3; echo line 1; echo line 2; echo line 3; while true; do if [ -f /tmp/go ]; then rm /tmp/go; echo after exec; fi; sleep 0.1; done',
];
const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

beforeAll(async () => {
  fx = await startRuntimeFixture('logs and exec on crun');
  name = (s) => `${fx.prefix}-${s}`;
  try {
    c = await startStreamsCluster({ suite: 'logs and exec on crun', nodeName: NODE, runtime: fx.runtime });
  } catch (e) {
    await fx.cleanup();
    throw e;
  }
});

afterAll(async () => {
  // The agent first (so it restarts nothing), then the containers and everything of the runtime.
  await c?.stop();
  await fx?.cleanup();
});

const image = () => ({ image: fx.image, imagePullPolicy: 'IfNotPresent' as const });

describe('[crun] logs of a container through the controller and the agent', () => {
  let pod: Pod;
  beforeAll(async () => {
    pod = await c.runningPod(name('logger'), [{ name: 'main', ...image(), command: LOGGER }], 60_000);
    await until('the first lines in the log', async () => ((await c.flotctl(['logs', pod.metadata.name!])).stdout.includes('line 3') ? true : undefined));
  });

  it('flotctl logs prints what the container wrote, stdout and stderr', async () => {
    const r = await c.flotctl(['logs', pod.metadata.name!]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('to stderr\nline 1\nline 2\nline 3\n');
  });

  it('flotctl logs --tail 1 and --timestamps', async () => {
    expect(await c.flotctl(['logs', pod.metadata.name!, '--tail', '1'])).toEqual({ code: 0, stdout: 'line 3\n', stderr: '' });
    const ts = await c.flotctl(['logs', pod.metadata.name!, '--tail', '1', '--timestamps']);
    expect(ts.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d) line 3\n$/);
  });

  it.each(KUBECTLS)('%s logs prints the same log, and --tail', async (_n, bin) => {
    const all = await c.run(bin, ['logs', pod.metadata.name!]);
    expect(all.code).toBe(0);
    expect(all.stdout).toBe((await c.flotctl(['logs', pod.metadata.name!])).stdout);
    expect((await c.run(bin, ['logs', pod.metadata.name!, '--tail=2'])).stdout).toBe('line 2\nline 3\n');
  });

  it('flotctl logs -f shows a line the container writes later (after a flotctl exec)', async () => {
    const child = spawn(process.execPath, [CLI, 'logs', '-f', pod.metadata.name!], {
      env: { PATH: process.env.PATH, HOME: c.work, KUBECONFIG: c.kubeconfig },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await until('the existing lines', async () => (out.includes('line 3\n') ? true : undefined));
      expect(out).not.toContain('after exec');
      expect(await c.flotctl(['exec', pod.metadata.name!, '--', 'touch', '/tmp/go'])).toEqual({ code: 0, stdout: '', stderr: '' });
      await until('the line written after the exec', async () => (out.includes('after exec\n') ? true : undefined));
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('[crun] exec in a container through the controller and the agent', () => {
  let pod: Pod;
  beforeAll(async () => {
    pod = await c.runningPod(
      name('duo'),
      [
        { name: 'main', ...image(), command: SLEEP, env: [{ name: 'WHO', value: 'main' }] },
        { name: 'side', ...image(), command: SLEEP, env: [{ name: 'WHO', value: 'side' }] },
      ],
      60_000,
    );
  });

  it("flotctl exec: stdout and stderr apart, the command's exit code as flotctl's", async () => {
    const r = await c.flotctl(['exec', pod.metadata.name!, '-c', 'main', '--', 'sh', '-c', 'echo to out; echo to err >&2; exit 3']);
    expect(r).toEqual({ code: 3, stdout: 'to out\n', stderr: 'to err\ncommand terminated with exit code 3\n' });
    expect(await c.flotctl(['exec', pod.metadata.name!, '-c', 'main', '--', 'true'])).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('-c picks the container the command runs in', async () => {
    expect((await c.flotctl(['exec', pod.metadata.name!, '-c', 'side', '--', 'sh', '-c', 'echo $WHO'])).stdout).toBe('side\n');
    expect((await c.flotctl(['exec', pod.metadata.name!, '-c', 'main', '--', 'sh', '-c', 'echo $WHO'])).stdout).toBe('main\n');
    const none = await c.flotctl(['exec', pod.metadata.name!, '--', 'true']);
    expect(none).toEqual({ code: 1, stdout: '', stderr: `Error from server (BadRequest): a container name must be specified for pod ${pod.metadata.name}, choose one of: [main side]\n` });
  });

  it('kubectl 1.32 exec (WebSocket) runs in the container, with stdin and the exit code', async () => {
    expect(await c.run(KUBECTL_WS, ['exec', pod.metadata.name!, '-c', 'side', '--', 'sh', '-c', 'echo $WHO; echo oops >&2; exit 2'])).toEqual({
      code: 2,
      stdout: 'side\n',
      stderr: 'oops\ncommand terminated with exit code 2\n',
    });
    expect(await c.run(KUBECTL_WS, ['exec', '-i', pod.metadata.name!, '-c', 'main', '--', 'wc', '-l'], { stdin: 'a\nb\nc\n' })).toEqual({ code: 0, stdout: '3\n', stderr: '' });
  });

  it('flotctl exec -i feeds stdin to the command', async () => {
    const input = 'x'.repeat(200_000) + '\nlast line\n';
    const r = await c.flotctl(['exec', '-i', pod.metadata.name!, '-c', 'main', '--', 'sh', '-c', 'wc -c; echo done >&2'], { stdin: input });
    expect(r).toEqual({ code: 0, stdout: `${Buffer.byteLength(input)}\n`, stderr: 'done\n' });
    const echo = await c.flotctl(['exec', '-i', pod.metadata.name!, '-c', 'side', '--', 'cat'], { stdin: 'round trip\n' });
    expect(echo).toEqual({ code: 0, stdout: 'round trip\n', stderr: '' });
  });
});

describe('[crun] logs of the previous instance of a restarted container', () => {
  it('flotctl logs --previous prints the log of the instance before the restart', async () => {
    const pod = await c.runningPod(name('restarts'), [{ name: 'main', ...image(), command: ['sh', '-c', 'echo instance $(cat /proc/sys/kernel/random/uuid); sleep 1; exit 1'] }], 60_000);
    const restarted = await until(
      'a restart',
      async () => {
        const p = (await c.rest('GET', `/api/v1/namespaces/default/pods/${pod.metadata.name}`)).json as Pod;
        const st = p.status?.containerStatuses?.[0];
        return st && st.restartCount >= 1 && st.lastState?.terminated ? p : undefined;
      },
      60_000,
    );
    expect(restarted.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode).toBe(1);
    const prev = await c.flotctl(['logs', pod.metadata.name!, '--previous']);
    expect(prev.code).toBe(0);
    expect(prev.stdout).toMatch(/^instance [0-9a-f-]{36}\n$/);
    const cur = await until('the current instance to write', async () => {
      const r = await c.flotctl(['logs', pod.metadata.name!]);
      return r.code === 0 && r.stdout !== '' ? r.stdout : undefined;
    });
    expect(cur).toMatch(/^instance [0-9a-f-]{36}\n$/);
    expect(cur).not.toBe(prev.stdout);
  });
});

describe('[crun] an exec whose user goes away', () => {
  it('leaves no process behind in the container', async () => {
    const pod = await c.runningPod(name('quitter'), [{ name: 'main', ...image(), command: SLEEP }], 60_000);
    const child = spawn(process.execPath, [CLI, 'exec', pod.metadata.name!, '--', 'sh', '-c', 'echo started; exec sleep 4242'], {
      env: { PATH: process.env.PATH, HOME: c.work, KUBECONFIG: c.kubeconfig },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const ps = async () => (await c.flotctl(['exec', pod.metadata.name!, '--', 'ps', '-o', 'args'])).stdout;
    try {
      await until('the command to start', async () => (out.includes('started') ? true : undefined));
      expect(await ps()).toContain('sleep 4242');
    } finally {
      child.kill('SIGKILL');
    }
    await until('the command to be gone from the container', async () => (!(await ps()).includes('sleep 4242') ? true : undefined));
  });
});
