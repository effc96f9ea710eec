// NativeError: what callers of the addon and of rtnetlink catch.
import { afterEach, describe, expect, it } from 'vitest';
import { FlotillaError } from '../../api/errors.js';
import { NativeError, errnoName, errnoToCode, isErrno, netnsDelete, setNativeBinding, type NativeBinding } from '../../native/index.js';
import { NetlinkError } from '../../netplugin/index.js';

afterEach(() => setNativeBinding(undefined));

describe('[native] typed errors', () => {
  it('[native] errno numbers map to stable error codes', () => {
    expect(errnoName(2)).toBe('ENOENT');
    expect(errnoToCode(2)).toBe('NotFound');
    expect(errnoToCode(19)).toBe('NotFound'); // ENODEV
    expect(errnoToCode(17)).toBe('AlreadyExists');
    expect(errnoToCode(1)).toBe('Forbidden');
    expect(errnoToCode(13)).toBe('Forbidden');
    expect(errnoToCode(22)).toBe('Invalid');
    expect(errnoToCode(16)).toBe('Conflict');
    expect(errnoToCode(110)).toBe('Timeout');
    expect(errnoToCode(95)).toBe('NotSupported');
    expect(errnoToCode(5)).toBe('Internal'); // EIO
  });

  it('[native] a NativeError is a FlotillaError naming the syscall, the path and the kernel message', () => {
    const e = new NativeError({ errno: 1, syscall: 'mount', path: '/x', kernelMessage: 'Operation not permitted', context: 'overlay' });
    expect(e).toBeInstanceOf(FlotillaError);
    expect(e.code).toBe('Forbidden');
    expect(e.message).toBe('overlay: mount /x: Operation not permitted (EPERM)');
    expect(e.details).toEqual({ errno: 1, errnoCode: 'EPERM', syscall: 'mount', path: '/x' });
    expect(isErrno(e, 'EPERM')).toBe(true);
    expect(isErrno(e, 'ENOENT')).toBe(false);
  });

  it('[native] what the addon throws is converted at the wrapper, other errors pass through', () => {
    setNativeBinding({
      netnsDelete: () => {
        throw Object.assign(new Error('raw'), { native: true, errno: 2, syscall: 'statfs', path: '/run/netns/x', kernelMessage: 'No such file or directory' });
      },
    } as unknown as NativeBinding);
    let caught: unknown;
    try {
      netnsDelete('/run/netns/x');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(NativeError);
    expect((caught as NativeError).message).toBe('netnsDelete: statfs /run/netns/x: No such file or directory (ENOENT)');

    setNativeBinding({ netnsDelete: () => { throw new RangeError('other'); } } as unknown as NativeBinding);
    expect(() => netnsDelete('/x')).toThrow(RangeError);
  });

  it('[netlink] a NetlinkError appends the extended-ack text and is retryable for EBUSY', () => {
    const e = new NetlinkError(16, 'RTM_NEWLINK', { object: 'br0', extack: 'device busy', context: 'linkSet' });
    expect(e.code).toBe('Conflict');
    expect(e.retryable).toBe(true);
    expect(e.message).toMatch(/^linkSet: RTM_NEWLINK br0: .+: device busy \(EBUSY\)$/);
    expect(e.extack).toBe('device busy');
  });
});
