// Probes and lifecycle hooks in the Pod descriptor: defaults as kube-apiserver
// fills them in, and refusals worded as it words them.
import { describe, expect, it } from 'vitest';
import { assertValid, defaultObject, InvalidError } from '../../api/index.js';

type Obj = Record<string, any>;

function pod(container: Obj = {}, spec: Obj = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default' },
    spec: { containers: [{ name: 'web', image: 'busybox:1.36', ports: [{ name: 'http', containerPort: 80 }], ...container }], ...spec },
  };
}

/** Defaults, then validation; the InvalidError message ('' when valid). */
function errorOf(o: Obj): string {
  try {
    assertValid(defaultObject(o));
    return '';
  } catch (e) {
    if (e instanceof InvalidError) return e.message;
    throw e;
  }
}

describe('[api] pod probes and lifecycle hooks', () => {
  it('fills in the probe defaults kube-apiserver fills in (period 10, timeout 1, thresholds 1/3, path "/", scheme HTTP)', () => {
    const p = defaultObject(pod({ livenessProbe: { httpGet: { port: 'http' } }, readinessProbe: { tcpSocket: { port: 80 }, periodSeconds: 0 } })) as Obj;
    const c = p.spec.containers[0];
    expect(c.livenessProbe).toEqual({ httpGet: { port: 'http', path: '/', scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 });
    expect(c.readinessProbe).toEqual({ tcpSocket: { port: 80 }, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 });
    const h = defaultObject(pod({ lifecycle: { preStop: { httpGet: { port: 80, path: '' } } } })) as Obj;
    expect(h.spec.containers[0].lifecycle.preStop.httpGet).toEqual({ port: 80, path: '/', scheme: 'HTTP' });
  });

  it('accepts every handler: exec, httpGet by port name with headers, tcpSocket, grpc, and hooks with sleep', () => {
    expect(
      errorOf(
        pod({
          livenessProbe: { exec: { command: ['cat', '/tmp/ok'] }, initialDelaySeconds: 5, terminationGracePeriodSeconds: 3 },
          readinessProbe: { httpGet: { port: 'http', path: '/healthz', httpHeaders: [{ name: 'X-Probe', value: 'yes' }] }, successThreshold: 2 },
          startupProbe: { grpc: { port: 9090, service: 'health' }, failureThreshold: 30 },
          lifecycle: { postStart: { exec: { command: ['touch', '/tmp/x'] } }, preStop: { sleep: { seconds: 5 } } },
        }),
      ),
    ).toBe('');
  });

  it('refuses two handlers in one probe', () => {
    expect(errorOf(pod({ livenessProbe: { exec: { command: ['true'] }, tcpSocket: { port: 80 } } }))).toBe(
      'Pod "web" is invalid: spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type',
    );
    expect(errorOf(pod({ readinessProbe: { periodSeconds: 3 } }))).toBe('Pod "web" is invalid: spec.containers[0].readinessProbe: Required value: must specify a handler type');
  });

  it('refuses a port name that is not an IANA_SVC_NAME, and one the container does not name', () => {
    // A number in a string is a name to kube-apiserver, and not a valid one.
    expect(errorOf(pod({ livenessProbe: { httpGet: { port: '8080' } } }))).toBe(
      'Pod "web" is invalid: spec.containers[0].livenessProbe.httpGet.port: Invalid value: "8080": must contain at least one letter (a-z)',
    );
    expect(errorOf(pod({ livenessProbe: { httpGet: { port: '80x_' } } }))).toBe(
      'Pod "web" is invalid: spec.containers[0].livenessProbe.httpGet.port: Invalid value: "80x_": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
    );
    expect(errorOf(pod({ livenessProbe: { tcpSocket: { port: 'web' } } }))).toBe(
      `Pod "web" is invalid: spec.containers[0].livenessProbe.tcpSocket.port: Invalid value: "web": must be the name of one of the container's ports ("http")`,
    );
    expect(errorOf(pod({ readinessProbe: { httpGet: { port: 70000 } } }))).toBe(
      'Pod "web" is invalid: spec.containers[0].readinessProbe.httpGet.port: Invalid value: 70000: must be between 1 and 65535, inclusive',
    );
    expect(errorOf(pod({ readinessProbe: { grpc: { port: 'http' } } }))).toMatch(/readinessProbe\.grpc\.port: Invalid value: "string": must be an integer/);
  });

  it('refuses successThreshold other than 1 for liveness and startup, negative numbers, and a grace period on readiness', () => {
    expect(errorOf(pod({ livenessProbe: { exec: { command: ['true'] }, successThreshold: 2 } }))).toBe(
      'Pod "web" is invalid: spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1',
    );
    expect(errorOf(pod({ startupProbe: { exec: { command: ['true'] }, successThreshold: 3 } }))).toMatch(/startupProbe\.successThreshold: Invalid value: 3: must be 1/);
    expect(errorOf(pod({ readinessProbe: { exec: { command: ['true'] }, failureThreshold: -1 } }))).toBe(
      'Pod "web" is invalid: spec.containers[0].readinessProbe.failureThreshold: Invalid value: -1: must be greater than or equal to 0',
    );
    expect(errorOf(pod({ readinessProbe: { exec: { command: ['true'] }, terminationGracePeriodSeconds: 5 } }))).toBe(
      'Pod "web" is invalid: spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: must not be set for readinessProbes',
    );
    expect(errorOf(pod({ livenessProbe: { exec: { command: [] } } }))).toBe('Pod "web" is invalid: spec.containers[0].livenessProbe.exec.command: Required value');
  });

  it('refuses an unknown scheme, a bad header name, and a sleep outside the grace period', () => {
    expect(errorOf(pod({ livenessProbe: { httpGet: { port: 80, scheme: 'FTP' } } }))).toBe(
      'Pod "web" is invalid: spec.containers[0].livenessProbe.httpGet.scheme: Unsupported value: "FTP": supported values: "HTTP", "HTTPS"',
    );
    expect(errorOf(pod({ livenessProbe: { httpGet: { port: 80, httpHeaders: [{ name: 'X Bad', value: '1' }] } } }))).toMatch(
      /httpHeaders\[0\]\.name: Invalid value: "X Bad": a valid HTTP header must consist of alphanumeric characters or '-'/,
    );
    expect(errorOf(pod({ lifecycle: { preStop: { sleep: { seconds: 30 } } } }))).toBe(
      'Pod "web" is invalid: spec.containers[0].lifecycle.preStop.sleep.seconds: Invalid value: 30: must be greater than 0 and less than terminationGracePeriodSeconds (30)',
    );
    expect(errorOf(pod({ lifecycle: { postStart: { tcpSocket: { port: 80 } } } }))).toMatch(/lifecycle\.postStart\.tcpSocket: Forbidden: not a lifecycle hook handler/);
    expect(errorOf(pod({ readinessProbe: { sleep: { seconds: 1 } } }))).toMatch(/readinessProbe\.sleep: Forbidden: not a probe handler/);
  });

  it('refuses probes and hooks on init containers, not on sidecars (restartPolicy Always)', () => {
    const init = (c: Obj) => pod({}, { initContainers: [{ name: 'init', image: 'busybox:1.36', ...c }] });
    const msg = errorOf(init({ readinessProbe: { exec: { command: ['true'] } }, lifecycle: { postStart: { exec: { command: ['true'] } } } }));
    expect(msg).toContain('spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always');
    expect(msg).toContain('spec.initContainers[0].lifecycle: Forbidden: may not be set for init containers without restartPolicy=Always');
    // A sidecar's probe passes this validation (restartPolicy itself is another part's business).
    expect(errorOf(init({ restartPolicy: 'Always', readinessProbe: { exec: { command: ['true'] } } }))).not.toContain('readinessProbe');
  });
});

describe('[cli] describe shows probes as kubectl does', () => {
  it('prints Liveness/Readiness/Startup lines with the handler and timings', async () => {
    const { describePod } = await import('../../cli/printers/describe.js');
    const p = defaultObject(
      pod({
        livenessProbe: { httpGet: { path: '/healthz', port: 8080 }, initialDelaySeconds: 3, periodSeconds: 3 },
        readinessProbe: { exec: { command: ['cat', '/tmp/ready'] } },
        startupProbe: { tcpSocket: { port: 'http' }, failureThreshold: 30 },
      }),
    ) as any;
    const text = describePod(p, [], Date.now());
    expect(text).toMatch(/Liveness:\s+http-get http:\/\/:8080\/healthz delay=3s timeout=1s period=3s #success=1 #failure=3\n/);
    expect(text).toMatch(/Readiness:\s+exec \[cat \/tmp\/ready\] delay=0s timeout=1s period=10s #success=1 #failure=3\n/);
    expect(text).toMatch(/Startup:\s+tcp-socket :http delay=0s timeout=1s period=10s #success=1 #failure=30\n/);
  });
});
