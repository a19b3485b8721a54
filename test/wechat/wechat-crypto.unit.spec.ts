// WeChat's signatures and safe-mode envelope, checked against a vector computed by hand from the documented
// algorithm, and round trips with every padding length.
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decryptWechatMessage, encryptWechatMessage, isEncodingAesKey, signatureMatches, wechatSignature, WechatCryptoError } from '../../src/adapters/wechat/wechat-crypto.ts';
import { SecretBox } from '../../src/adapters/wechat/wechat-secrets.ts';
import { parsePushFields, pushKey, pushOf, WechatPushError, xmlOf } from '../../src/adapters/wechat/wechat-messages.ts';

const aesKey = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';

describe('WeChat signatures', () => {
  it('is the SHA-1 of the sorted parts joined', () => {
    const expected = createHash('sha1').update(['1409304348', 'token', 'xxxxxx'].join('')).digest('hex');
    expect(wechatSignature('token', '1409304348', 'xxxxxx')).toBe(expected);
    expect(signatureMatches(expected, 'token', '1409304348', 'xxxxxx')).toBe(true);
    expect(signatureMatches(expected.toUpperCase(), 'token', '1409304348', 'xxxxxx')).toBe(true);
    expect(signatureMatches(expected, 'token', '1409304349', 'xxxxxx')).toBe(false);
    expect(signatureMatches('short', 'token', '1409304348', 'xxxxxx')).toBe(false);
  });
});

describe('safe mode', () => {
  it('knows an EncodingAESKey', () => {
    expect(isEncodingAesKey(aesKey)).toBe(true);
    expect(isEncodingAesKey(aesKey.slice(1))).toBe(false);
  });

  it('seals random(16) + length + message + AppID, padded to 32 bytes, under the key and its first 16 bytes as IV', () => {
    const random = Buffer.alloc(16, 7);
    const encrypted = encryptWechatMessage(aesKey, 'wx0123456789abcdef', '<xml>你好</xml>', random);
    const key = Buffer.from(`${aesKey}=`, 'base64');
    const d = createDecipheriv('aes-256-cbc', key, key.subarray(0, 16));
    d.setAutoPadding(false);
    const plain = Buffer.concat([d.update(Buffer.from(encrypted, 'base64')), d.final()]);
    expect(plain.length % 32).toBe(0);
    expect(plain.subarray(0, 16)).toEqual(random);
    const len = plain.readUInt32BE(16);
    expect(plain.subarray(20, 20 + len).toString()).toBe('<xml>你好</xml>');
    const pad = plain[plain.length - 1]!;
    expect(plain.subarray(20 + len, plain.length - pad).toString()).toBe('wx0123456789abcdef');
  });

  it('round-trips every padding length and tells the AppID', () => {
    for (let n = 0; n < 70; n++) {
      const message = 'x'.repeat(n) + '😀';
      expect(decryptWechatMessage(aesKey, encryptWechatMessage(aesKey, 'wxabc', message))).toEqual({ message, appId: 'wxabc' });
    }
  });

  it('refuses what is not its envelope', () => {
    expect(() => decryptWechatMessage(aesKey, 'not base64 blocks')).toThrow(WechatCryptoError);
    const other = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq';
    expect(() => decryptWechatMessage(other, encryptWechatMessage(aesKey, 'wxabc', 'hello'))).toThrow(WechatCryptoError);
  });

  it('refuses padding that is not PKCS#7 and a length that points past the frame (cases of the callback fuzz)', () => {
    const key = Buffer.from(`${aesKey}=`, 'base64');
    const seal = (plain: Buffer) => {
      const c = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
      c.setAutoPadding(false);
      return Buffer.concat([c.update(plain), c.final()]).toString('base64');
    };
    const frame = (length: number, padByte: (i: number, n: number) => number) => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(length);
      const body = Buffer.concat([Buffer.alloc(16, 1), len, Buffer.from('hello'), Buffer.from('wxabc')]);
      const n = 32 - (body.length % 32);
      return seal(Buffer.concat([body, Buffer.from(Array.from({ length: n }, (_, i) => padByte(i, n)))]));
    };
    expect(decryptWechatMessage(aesKey, frame(5, (_, n) => n))).toEqual({ message: 'hello', appId: 'wxabc' });
    expect(() => decryptWechatMessage(aesKey, frame(5, (i, n) => (i === n - 1 ? n : 7)))).toThrow(/bad padding/);
    expect(() => decryptWechatMessage(aesKey, frame(5, () => 0))).toThrow(/bad padding/);
    expect(() => decryptWechatMessage(aesKey, frame(5, () => 33))).toThrow(/bad padding/);
    expect(() => decryptWechatMessage(aesKey, frame(0xffffffff, (_, n) => n))).toThrow(/bad length/);
    expect(() => decryptWechatMessage(aesKey, frame(11, (_, n) => n))).toThrow(/bad length/);
  });
});

describe('sealed secrets', () => {
  it('open with the same key only, never show the secret', () => {
    const box = new SecretBox(Buffer.from('k'.repeat(32)));
    const sealed = box.seal('0123456789abcdef0123456789abcdef');
    expect(sealed).not.toContain('0123456789abcdef');
    expect(box.open(sealed)).toBe('0123456789abcdef0123456789abcdef');
    expect(() => new SecretBox(Buffer.from('j'.repeat(32))).open(sealed)).toThrow();
  });
});

describe('pushes', () => {
  it('keeps face codes, emoji and markup as written', () => {
    const body = xmlOf({ ToUserName: 'gh_0123456789ab', FromUserName: 'oOpenId_1', CreateTime: 1700000000, MsgType: 'text', Content: '/::) [Smirk] 😀 <b>&amp; ]]> end', MsgId: '1234567890123456789' });
    const p = pushOf(parsePushFields(body, 'XML'));
    expect(p.content).toBe('/::) [Smirk] 😀 <b>&amp; ]]> end');
    expect(pushKey(p)).toBe('msg:1234567890123456789');
  });
  it('reads JSON pushes of mini programs, keyed by customer and time for events', () => {
    const p = pushOf(parsePushFields(JSON.stringify({ ToUserName: 'gh_x', FromUserName: 'oX', CreateTime: 1700000000, MsgType: 'event', Event: 'user_enter_tempsession', SessionFrom: 'order=42' }), 'JSON'));
    expect(p.sessionFrom).toBe('order=42');
    expect(pushKey(p)).toBe('event:oX:1700000000:user_enter_tempsession');
  });
  it('refuses malformed XML, entities, and pushes without their fields', () => {
    expect(() => parsePushFields('<xml><a>1</xml>', 'XML')).toThrow(WechatPushError);
    expect(() => parsePushFields('<!DOCTYPE x [<!ENTITY a "aaaa">]><xml><a>&a;</a></xml>', 'XML')).toThrow(WechatPushError);
    expect(() => parsePushFields('[1]', 'JSON')).toThrow(WechatPushError);
    expect(() => pushOf(parsePushFields(xmlOf({ ToUserName: 'gh', MsgType: 'text', CreateTime: 1 }), 'XML'))).toThrow(/FromUserName/);
  });
});
