// What the callback's push parser refuses (found by test/wechat/wechat-callback-fuzz.int.spec.ts): each is a
// WechatPushError (the callback's 400, logged once), never another error (a 500, or a 503 WeChat retries).
import { describe, expect, it } from 'vitest';
import { flatPushFields, parsePushFields, pushOf, WechatPushError, xmlOf, xmlPushFields } from '../../src/adapters/wechat/wechat-messages.ts';

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

  it("reads WeChat's own shape without the general parser, as that parser reads it", () => {
    const spaced = `<xml>\n  <ToUserName><![CDATA[gh_1]]></ToUserName>\n  <CreateTime>1700000000</CreateTime>\n  <Content><![CDATA[a <b> & /::) 😀]]></Content>\n</xml>\n`;
    for (const body of [xmlOf(base), xmlOf({ ToUserName: 'gh_1', Encrypt: 'AbC+/=' }), spaced]) {
      expect(flatPushFields(body), body).not.toBeNull();
      expect(flatPushFields(body), body).toEqual(xmlPushFields(body));
    }
    expect(flatPushFields(spaced)).toMatchObject({ Content: 'a <b> & /::) 😀', CreateTime: '1700000000' });
  });

  it('leaves every other XML to the general parser: where the flat reading answers, it answers as that parser does', () => {
    // Documents near WeChat's shape, and just off it (entities, \r\n, attributes, repeated, nested, empty, Object's names…).
    let seed = 13;
    const random = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const pick = <T,>(xs: T[]) => xs[random(xs.length)]!;
    // Mostly WeChat's shape, one part in eight just off it: most documents are read, and many near misses are not.
    const either = <T,>(usual: T[], odd: T[]) => (random(8) > 0 ? pick(usual) : pick(odd));
    const text = () => Array.from({ length: random(4) }, () => either(['a', 'b', ' ', '😀', '\n', '\t', '>', '"', '\u0000', '\uD800', '/::)'], ['\r', '<', '&amp;', '&', ']]>'])).join('');
    const element = () => {
      const name = either(['A', 'Content', 'MsgId', 'Encrypt', 'ToUserName', 'C', 'D', 'xml'], ['constructor', 'toString', 'valueOf', 'a1_', '_x', '1a', 'A-b']);
      const value = either([() => text(), () => `<![CDATA[${text()}]]>`, () => ''], [() => `<![CDATA[${text()}]]><![CDATA[${text()}]]>`, () => `<B>${text()}</B>`, () => `${text()}<![CDATA[${text()}]]>`]);
      return either([() => `<${name}>${value()}</${name}>`], [() => `<${name}/>`, () => `<${name} a="1">${text()}</${name}>`, () => `<${name}>${value()}</B>`])();
    };
    const between = () => either(['', '\n', ' \n  '], ['\r\n', 'x', '<!-- c -->']);
    let read = 0;
    for (let n = 0; n < 3000; n++) {
      const body = `${either(['', ' '], ['\uFEFF', '<?xml version="1.0"?>'])}${either(['<xml>'], ['<xml a="1">', '<XML>'])}${Array.from({ length: random(5) }, () => between() + element()).join('')}${between()}${either(['</xml>', '</xml>\n'], ['</xml>x', '', '</xml><xml></xml>'])}`;
      const flat = flatPushFields(body);
      if (flat === null) continue;
      read++;
      expect(flat, JSON.stringify(body)).toEqual(xmlPushFields(body));
    }
    expect(read).toBeGreaterThan(250);
  });
});
