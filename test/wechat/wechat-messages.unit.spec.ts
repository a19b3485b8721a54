// What the callback's push parser refuses (found by test/wechat/wechat-callback-fuzz.int.spec.ts): each is a
// WechatPushError (the callback's 400, logged once), never another error (a 500, or a 503 WeChat retries).
import { describe, expect, it } from 'vitest';
import { parsePushFields, pushOf, WechatPushError, xmlOf } from '../../src/adapters/wechat/wechat-messages.ts';

const base = { ToUserName: 'gh_1', FromUserName: 'oUser_1', CreateTime: '1700000000', MsgType: 'text', Content: 'hi', MsgId: '1' };
const push = (body: string, format: 'XML' | 'JSON' = 'XML') => pushOf(parsePushFields(body, format));

describe('WeChat push parsing', () => {
  it('takes a plain push', () => {
    expect(push(xmlOf(base))).toMatchObject({ fromUserName: 'oUser_1', content: 'hi', createTime: 1700000000 });
  });

  it('refuses an XML element the parser calls reserved (__proto__) as a malformed push, not a crash', () => {
    expect(() => parsePushFields(`<xml><__proto__><MsgType>text</MsgType></__proto__>${xmlOf(base).slice(5)}`, 'XML')).toThrow(WechatPushError);
  });

  it('refuses text no store can hold (NUL, an unpaired surrogate) in any field, XML or JSON', () => {
    expect(() => push(xmlOf({ ...base, Content: 'a\u0000b' }))).toThrow(/Content must not contain NUL/);
    expect(() => push(JSON.stringify({ ...base, Content: 'a\uD800' }), 'JSON')).toThrow(/Content must not contain unpaired/);
    expect(() => push(JSON.stringify({ ...base, EventKey: '\u0000' }), 'JSON')).toThrow(WechatPushError);
  });

  it('refuses a MediaId that cannot be one (spaces, control or non-ASCII characters)', () => {
    for (const MediaId of ['a b', 'x\u0001', '😀', '\u0000']) expect(() => push(xmlOf({ ...base, MsgType: 'image', MediaId })), MediaId).toThrow(WechatPushError);
    expect(push(xmlOf({ ...base, MsgType: 'image', MediaId: 'Ab-_9' })).mediaId).toBe('Ab-_9');
  });

  it('refuses entity declarations and CreateTime outside the times', () => {
    expect(() => push(`<!DOCTYPE xml [<!ENTITY a "aaaa">]><xml><Content>&a;</Content></xml>`)).toThrow(WechatPushError);
    for (const CreateTime of ['-1', '0', '1e10', '1.5', ' 1700000000', '0x10', '253402300800', '9999999999999']) expect(() => push(xmlOf({ ...base, CreateTime })), CreateTime).toThrow(WechatPushError);
  });
});
