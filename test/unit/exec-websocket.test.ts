// The WebSocket pieces of kubectl exec: the handshake key, server frames of each
// length encoding, and client frames (masked, fragmented, cut anywhere).
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { WsFrameParser, encodeWsFrame, websocketAccept } from '../../controller/apiserver/exec-websocket.js';

/** A client frame as RFC 6455 has them: masked. */
function clientFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i & 3]!));
  const n = payload.length;
  const len = n < 126 ? Buffer.from([0x80 | n]) : n < 65536 ? Buffer.from([0x80 | 126, n >> 8, n & 0xff]) : Buffer.concat([Buffer.from([0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode]), len, mask, masked]);
}

describe('exec over WebSocket', () => {
  it('answers the handshake key as RFC 6455 specifies', () => {
    expect(websocketAccept('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  it.each([0, 125, 126, 65535, 65536])('writes a %i-byte server frame with the right length encoding, unmasked', (n) => {
    const f = encodeWsFrame(2, Buffer.alloc(n, 7));
    expect(f[0]).toBe(0x82);
    const [len, at] = n < 126 ? [f[1]!, 2] : n < 65536 ? [f.readUInt16BE(2), 4] : [Number(f.readBigUInt64BE(2)), 10];
    expect(f[1]! & 0x80).toBe(0);
    expect(len).toBe(n);
    expect(f.length).toBe(at + n);
  });

  it('reads masked, fragmented messages and control frames in between, however the bytes are cut', () => {
    const big = randomBytes(70_000);
    const stream = Buffer.concat([
      clientFrame(2, Buffer.from([0, ...Buffer.from('hello')])),
      clientFrame(2, Buffer.from([0, 1, 2]), false),
      clientFrame(9, Buffer.from('ping!')),
      clientFrame(0, Buffer.from([3, 4]), true),
      clientFrame(2, big),
      clientFrame(8, Buffer.from([0x03, 0xe8])),
    ]);
    for (const size of [1, 3, 1000, stream.length]) {
      const p = new WsFrameParser();
      const got = [];
      for (let i = 0; i < stream.length; i += size) got.push(...p.push(stream.subarray(i, i + size)));
      expect(got.map((m) => m.opcode)).toEqual([2, 9, 2, 2, 8]);
      expect(got[0]!.payload.toString('latin1')).toBe('\0hello');
      expect(got[1]!.payload.toString()).toBe('ping!');
      expect([...got[2]!.payload]).toEqual([0, 1, 2, 3, 4]);
      expect(got[3]!.payload.equals(big)).toBe(true);
    }
  });

  it('refuses unmasked client frames', () => {
    expect(() => new WsFrameParser().push(Buffer.from([0x82, 0x01, 0x00]))).toThrow('client frames must be masked');
  });
});
