// werift's SRTP ciphers call createCipheriv / createDecipheriv for every packet with the session key as a
// Buffer, and Node turns that Buffer into a key object every time: about two thirds of the cost of a
// packet's AES-GCM (17 us against 5 us with a key object made once, Node 24). Kefu decrypts and encrypts
// every packet of every AV call (and softphone call), so this was its largest cost after the recorder. Here the
// ciphers' session keys become key objects when werift sets them (an accessor on their common base class,
// found through a throw-away session); the cipher calls are werift's own, with the same bytes in and out.
// Imported for its effect.
import { createSecretKey, type KeyObject } from 'node:crypto';
import { ProtectionProfileAeadAes128Gcm, SrtpSession } from 'werift';

const probe = new SrtpSession({
  keys: { localMasterKey: Buffer.alloc(16), localMasterSalt: Buffer.alloc(12), remoteMasterKey: Buffer.alloc(16), remoteMasterSalt: Buffer.alloc(12) },
  profile: ProtectionProfileAeadAes128Gcm,
});
const cipher = (probe.localContext as unknown as { cipher: object }).cipher;
const base = Object.getPrototypeOf(Object.getPrototypeOf(cipher)) as object;
if (base.constructor.name !== 'CipherAesBase' || Object.getOwnPropertyDescriptor(cipher, 'srtpSessionKey')?.value === undefined) {
  throw new Error("werift's SRTP ciphers are not as expected: check werift-srtp-keys.ts against the werift version");
}

for (const name of ['srtpSessionKey', 'srtcpSessionKey']) {
  const slot = Symbol(name);
  Object.defineProperty(base, name, {
    configurable: true,
    get(this: Record<symbol, KeyObject | undefined>) {
      return this[slot];
    },
    set(this: Record<symbol, KeyObject | undefined>, value: unknown) {
      this[slot] = Buffer.isBuffer(value) ? createSecretKey(value) : (value as KeyObject);
    },
  });
}
