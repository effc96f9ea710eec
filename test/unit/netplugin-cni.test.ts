// flotilla-cni's pure parts: network config and CNI_ARGS parsing, the error
// code mapping, and the commands that never touch the kernel.
import { describe, expect, it } from 'vitest';
import { FlotillaError, UnavailableError } from '../../api/index.js';
import { CniCode, CniError, parseCniArgs, parseNetConf, PodNetworkCheckError, runCni, toCniError } from '../../netplugin/index.js';

const good = { cniVersion: '1.0.0', name: 'flotilla', type: 'flotilla', subnet: '10.244.3.0/24', mtu: 1450, dataDir: '/var/lib/flotilla' };

describe('flotilla-cni parsing', () => {
  it('a valid network config parses as is', () => {
    expect(parseNetConf(JSON.stringify(good))).toEqual(good);
  });

  it.each([
    ['not JSON', '{', CniCode.DecodeFailure, /not JSON/],
    ['a JSON array', '[]', CniCode.DecodeFailure, /not a JSON object/],
    ['no cniVersion', JSON.stringify({ ...good, cniVersion: undefined }), CniCode.InvalidConfig, /lacks cniVersion/],
    ['an old version', JSON.stringify({ ...good, cniVersion: '0.4.0' }), CniCode.IncompatibleVersion, /0\.4\.0 is not supported/],
    ['every field wrong at once', JSON.stringify({ cniVersion: '1.0.0', name: '', type: 'x', bridge: 'a-bridge-name-too-long', subnet: 'nope', mtu: 1.5, dataDir: 'rel' }), CniCode.InvalidConfig,
      /name must be.*type must be "flotilla".*bridge must be 1\.\.15.*invalid subnet "nope".*mtu must be.*dataDir must be an absolute path/],
  ])('%s is refused with the right CNI code', (_what, stdin, code, msg) => {
    const e = (() => {
      try {
        parseNetConf(stdin);
      } catch (err) {
        return err as CniError;
      }
      throw new Error('parsed');
    })();
    expect(e).toBeInstanceOf(CniError);
    expect(e.code).toBe(code);
    expect(e.msg).toMatch(msg);
  });

  it('CNI_ARGS are KEY=VALUE pairs separated by semicolons; values may hold =', () => {
    expect(parseCniArgs('K8S_POD_NAME=web;K8S_POD_NAMESPACE=default;X=a=b;')).toEqual({ K8S_POD_NAME: 'web', K8S_POD_NAMESPACE: 'default', X: 'a=b' });
    expect(parseCniArgs(undefined)).toEqual({});
    expect(() => parseCniArgs('=x')).toThrow(/not KEY=VALUE/);
  });
});

describe('flotilla-cni error mapping', () => {
  it.each([
    ['a missing namespace', new PodNetworkCheckError('c', 'netns', 'network namespace /x does not exist'), CniCode.UnknownContainer, ''],
    ['a retryable error', new UnavailableError('controller down'), CniCode.TryAgainLater, 'Unavailable'],
    ['another typed error', new FlotillaError('AlreadyExists', 'name taken'), CniCode.PluginError, 'AlreadyExists'],
    ['a plain error', new Error('boom'), CniCode.PluginError, ''],
  ])('%s → CNI code', (_what, err, code, details) => {
    const c = toCniError(err);
    expect(c.code).toBe(code);
    expect(c.details).toBe(details);
    expect(c.msg).toBe(err.message);
  });

  it('VERSION and bad commands answer without touching the kernel', async () => {
    expect(await runCni({ CNI_COMMAND: 'VERSION' }, '')).toEqual({ stdout: '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}\n', exitCode: 0 });
    const bad = await runCni({}, JSON.stringify(good));
    expect(bad.exitCode).toBe(1);
    expect(JSON.parse(bad.stdout)).toEqual({ cniVersion: '1.0.0', code: 4, msg: 'CNI_COMMAND (unset) is not one of ADD, DEL, CHECK, VERSION' });
  });
});
