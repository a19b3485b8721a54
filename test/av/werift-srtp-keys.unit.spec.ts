// werift's SRTP ciphers with key objects (src/adapters/webrtc/werift-srtp-keys.ts): the same bytes as werift
// with Buffer keys, both profiles, RTP and RTCP, and packets still decrypt and authenticate.
import { KeyObject, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ProtectionProfileAeadAes128Gcm, ProtectionProfileAes128CmHmacSha1_80, RtpHeader, SrtcpSession, SrtpSession } from 'werift';

const keys = { localMasterKey: randomBytes(16), localMasterSalt: randomBytes(14), remoteMasterKey: randomBytes(16), remoteMasterSalt: randomBytes(14) };
const mirrored = { localMasterKey: keys.remoteMasterKey, localMasterSalt: keys.remoteMasterSalt, remoteMasterKey: keys.localMasterKey, remoteMasterSalt: keys.localMasterSalt };
const profiles = [ProtectionProfileAeadAes128Gcm, ProtectionProfileAes128CmHmacSha1_80] as const;
const header = (seq: number) => new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: (seq * 3000) >>> 0, ssrc: 0x1234abcd, marker: seq % 3 === 0 });
const payloads = Array.from({ length: 20 }, (_, i) => randomBytes(100 + i * 50));
const rtcp = Buffer.from('81c90007' + '1234abcd' + 'deadbeef' + '00000000' + '00000001' + '00000000' + '00000000' + '00000000', 'hex');

function encryptAll(profile: number) {
  const s = new SrtpSession({ keys, profile: profile as typeof ProtectionProfileAeadAes128Gcm });
  const c = new SrtcpSession({ keys, profile: profile as typeof ProtectionProfileAeadAes128Gcm });
  return { rtp: payloads.map((p, i) => s.encrypt(p, header((65530 + i) & 0xffff))), rtcp: c.encrypt(rtcp) };
}

describe("werift's SRTP with key objects", () => {
  it('encrypts to the same bytes as werift with Buffer keys, and the other side decrypts and authenticates them', async () => {
    const before = profiles.map(encryptAll);
    await import('../../src/adapters/webrtc/werift-srtp-keys.ts');
    const after = profiles.map(encryptAll);
    const cipherOf = (x: SrtpSession) => (x.localContext as unknown as { cipher: { srtpSessionKey: unknown; srtcpSessionKey: unknown } }).cipher;
    const fresh = cipherOf(new SrtpSession({ keys, profile: ProtectionProfileAeadAes128Gcm }));
    expect(fresh.srtpSessionKey).toBeInstanceOf(KeyObject);
    expect(fresh.srtcpSessionKey).toBeInstanceOf(KeyObject);
    expect(after).toEqual(before);
    profiles.forEach((profile, k) => {
      const receiver = new SrtpSession({ keys: mirrored, profile: profile as typeof ProtectionProfileAeadAes128Gcm });
      const rtcpReceiver = new SrtcpSession({ keys: mirrored, profile: profile as typeof ProtectionProfileAeadAes128Gcm });
      after[k]!.rtp.forEach((packet, i) => expect(receiver.decrypt(packet).subarray(12)).toEqual(payloads[i]));
      expect(rtcpReceiver.decrypt(after[k]!.rtcp)).toEqual(rtcp);
      // A packet changed on the way fails authentication.
      const bad = Buffer.from(after[k]!.rtp[3]!);
      bad[bad.length - 1]! ^= 1;
      expect(() => receiver.decrypt(bad)).toThrow();
    });
  });
});
