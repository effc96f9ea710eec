// securityContext, hostAliases and imagePullSecrets in the Pod descriptor:
// accepted when valid, refused with the field path worded as kube-apiserver words it.
import { describe, expect, it } from 'vitest';
import { assertValid, defaultObject, InvalidError } from '../../api/index.js';

type Obj = Record<string, any>;

function pod(container: Obj = {}, spec: Obj = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default' },
    spec: { containers: [{ name: 'web', image: 'busybox:1.36', ...container }], ...spec },
  };
}

function errorOf(o: Obj): string {
  try {
    assertValid(defaultObject(o));
    return '';
  } catch (e) {
    if (e instanceof InvalidError) return e.message;
    throw e;
  }
}

describe('[api] pod securityContext', () => {
  it('accepts the pod and container fields Flotilla carries out', () => {
    expect(
      errorOf(
        pod(
          {
            securityContext: {
              runAsUser: 1000,
              runAsGroup: 3000,
              runAsNonRoot: true,
              readOnlyRootFilesystem: true,
              allowPrivilegeEscalation: false,
              capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE', 'CAP_CHOWN'] },
              seccompProfile: { type: 'RuntimeDefault' },
              procMount: 'Default',
            },
          },
          {
            securityContext: {
              runAsUser: 1,
              fsGroup: 2000,
              fsGroupChangePolicy: 'OnRootMismatch',
              supplementalGroups: [4000, 5000],
              sysctls: [{ name: 'net.core.somaxconn', value: '1024' }, { name: 'kernel.shm_rmid_forced', value: '1' }, { name: 'fs.mqueue.msg_max', value: '20' }],
              seccompProfile: { type: 'Unconfined' },
            },
            hostAliases: [{ ip: '10.1.2.3', hostnames: ['foo.local', 'bar'] }],
          },
        ),
      ),
    ).toBe('');
    expect(errorOf(pod({ securityContext: { privileged: true } }))).toBe('');
  });

  it('refuses ids out of range as kube-apiserver does', () => {
    expect(errorOf(pod({ securityContext: { runAsUser: -1 } }))).toBe(
      'Pod "web" is invalid: spec.containers[0].securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647, inclusive',
    );
    expect(errorOf(pod({}, { securityContext: { fsGroup: 2147483648 } }))).toBe(
      'Pod "web" is invalid: spec.securityContext.fsGroup: Invalid value: 2147483648: must be between 0 and 2147483647, inclusive',
    );
    expect(errorOf(pod({}, { securityContext: { supplementalGroups: [1, -5] } }))).toContain('spec.securityContext.supplementalGroups[1]: Invalid value: -5');
    expect(errorOf(pod({ securityContext: { runAsUser: 'root' } }))).toContain('spec.containers[0].securityContext.runAsUser: Invalid value: "string": must be an integer');
  });

  it('refuses the allowPrivilegeEscalation contradictions with the kube-apiserver wording', () => {
    expect(errorOf(pod({ securityContext: { allowPrivilegeEscalation: false, privileged: true } }))).toContain(
      'spec.containers[0].securityContext: Invalid value: ',
    );
    expect(errorOf(pod({ securityContext: { allowPrivilegeEscalation: false, privileged: true } }))).toContain(
      'cannot set `allowPrivilegeEscalation` to false and `privileged` to true',
    );
    expect(errorOf(pod({ securityContext: { allowPrivilegeEscalation: false, capabilities: { add: ['SYS_ADMIN'] } } }))).toContain(
      'cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN',
    );
  });

  it('refuses unknown capability names', () => {
    expect(errorOf(pod({ securityContext: { capabilities: { drop: ['NET_FLY'] } } }))).toBe(
      'Pod "web" is invalid: spec.containers[0].securityContext.capabilities.drop[0]: Invalid value: "NET_FLY": must be a Linux capability name (e.g. NET_ADMIN or CAP_NET_ADMIN) or ALL',
    );
  });

  it('refuses sysctls that are malformed, duplicated, not namespaced, or net.* with hostNetwork', () => {
    expect(errorOf(pod({}, { securityContext: { sysctls: [{ name: 'Net.Bad', value: '1' }] } }))).toContain(
      'spec.securityContext.sysctls[0].name: Invalid value: "Net.Bad": must have at most 253 characters and match regex',
    );
    expect(errorOf(pod({}, { securityContext: { sysctls: [{ name: 'kernel.panic', value: '1' }] } }))).toBe(
      'Pod "web" is invalid: spec.securityContext.sysctls[0].name: Forbidden: sysctl "kernel.panic" is not namespaced: a pod may set only net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.*',
    );
    expect(
      errorOf(pod({}, { securityContext: { sysctls: [{ name: 'net.core.somaxconn', value: '1' }, { name: 'net/core/somaxconn', value: '2' }] } })),
    ).toContain('spec.securityContext.sysctls[1].name: Duplicate value: "net/core/somaxconn"');
    expect(errorOf(pod({}, { hostNetwork: true, securityContext: { sysctls: [{ name: 'net.core.somaxconn', value: '1' }] } }))).toContain(
      `spec.securityContext.sysctls[0].name: Invalid value: "net.core.somaxconn": may not be specified when 'hostNetwork' is true`,
    );
  });

  it('refuses Localhost seccomp, seLinuxOptions, appArmorProfile, windowsOptions and Unmasked procMount, naming them', () => {
    expect(errorOf(pod({ securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: 'x.json' } } }))).toContain(
      'spec.containers[0].securityContext.seccompProfile.type: Forbidden: Localhost seccomp profiles are not supported by Flotilla',
    );
    expect(errorOf(pod({ securityContext: { seccompProfile: { type: 'Other' } } }))).toContain(
      'spec.containers[0].securityContext.seccompProfile.type: Unsupported value: "Other": supported values: "Localhost", "RuntimeDefault", "Unconfined"',
    );
    expect(errorOf(pod({}, { securityContext: { seLinuxOptions: { level: 's0:c1' } } }))).toBe(
      'Pod "web" is invalid: spec.securityContext.seLinuxOptions: Forbidden: not supported by Flotilla',
    );
    expect(errorOf(pod({ securityContext: { appArmorProfile: { type: 'RuntimeDefault' } } }))).toContain(
      'spec.containers[0].securityContext.appArmorProfile: Forbidden: not supported by Flotilla',
    );
    expect(errorOf(pod({ securityContext: { windowsOptions: { runAsUserName: 'x' } } }))).toContain('securityContext.windowsOptions: Forbidden');
    expect(errorOf(pod({ securityContext: { procMount: 'Unmasked' } }))).toContain('securityContext.procMount: Forbidden');
    expect(errorOf(pod({}, { securityContext: { fsGroupChangePolicy: 'Sometimes' } }))).toContain(
      'spec.securityContext.fsGroupChangePolicy: Unsupported value: "Sometimes"',
    );
  });

  it('validates hostAliases', () => {
    expect(errorOf(pod({}, { hostAliases: [{ ip: 'nope', hostnames: ['a'] }] }))).toBe(
      'Pod "web" is invalid: spec.hostAliases[0].ip: Invalid value: "nope": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
    );
    expect(errorOf(pod({}, { hostAliases: [{ hostnames: ['a'] }] }))).toContain('spec.hostAliases[0].ip: Required value');
    expect(errorOf(pod({}, { hostAliases: [{ ip: '1.2.3.4', hostnames: ['Bad_Name'] }] }))).toContain('spec.hostAliases[0].hostnames[0]: Invalid value: "Bad_Name"');
  });

  it('setHostnameAsFQDN is accepted as a boolean (the FQDN length is the node agent\'s to check)', () => {
    expect(errorOf(pod({}, { hostname: 'a', subdomain: 'b', setHostnameAsFQDN: true }))).toBe('');
    expect(errorOf(pod({}, { setHostnameAsFQDN: true }))).toBe('');
    expect(errorOf(pod({}, { setHostnameAsFQDN: 'yes' }))).toContain('spec.setHostnameAsFQDN');
  });
});

describe('[api] pod imagePullSecrets', () => {
  it('are accepted by name; a bad name is refused with its path', () => {
    expect(errorOf(pod({}, { imagePullSecrets: [{ name: 'regcred' }] }))).toBe('');
    expect(errorOf(pod({}, { imagePullSecrets: [{ name: 'Bad_Name' }] }))).toContain('spec.imagePullSecrets[0].name: Invalid value: "Bad_Name"');
  });
});
