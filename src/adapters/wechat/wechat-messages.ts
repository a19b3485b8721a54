// What WeChat pushes to a callback: XML `<xml>…</xml>` (official accounts; mini programs when so configured) or
// JSON (mini programs), the same fields either way. Values are kept as the customer wrote them (WeChat's face
// codes such as `/::)` and Unicode emoji alike); nothing is read that the types below do not name.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { WechatDataFormat } from '../../domain/wechat-account/wechat-account.ts';
import { textProblem } from '../../domain/values.ts';

export interface WechatPush {
  toUserName: string;
  /** The customer's OpenID. */
  fromUserName: string;
  createTime: number;
  msgType: string;
  msgId: string | null;
  content: string | null;
  picUrl: string | null;
  mediaId: string | null;
  /** Voice: amr or speex. */
  format: string | null;
  event: string | null;
  eventKey: string | null;
  /** Mini programs' user_enter_tempsession: what the button's session-from said. */
  sessionFrom: string | null;
  unionId: string | null;
  /** Safe and compatible modes: the encrypted message. */
  encrypt: string | null;
}

export class WechatPushError extends Error {
  override readonly name = 'WechatPushError';
}

const parser = new XMLParser({ parseTagValue: false, trimValues: false, processEntities: true, htmlEntities: false, ignoreAttributes: true });

const fieldName = /^[A-Za-z][A-Za-z0-9_]*$/;

function skipSpace(s: string, i: number): number {
  for (;;) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
}

/**
 * The fields of a push in the one shape WeChat sends, read without the general parser (a tenth of its cost per
 * push): `<xml>` holding flat elements, each of one CDATA section or of text without markup or entities, names
 * of letters, digits and _ each once, whitespace between. Anything else (a declaration, an attribute, a comment,
 * an entity, a nested or repeated element, two CDATA sections) is null: the general validator and parser read it.
 * Where it answers, it answers as they do (test/wechat/wechat-messages.unit.spec.ts compares them).
 */
export function flatPushFields(body: string): Record<string, string> | null {
  let i = skipSpace(body, 0);
  if (!body.startsWith('<xml>', i)) return null;
  i += 5;
  const out: Record<string, string> = {};
  // The general parser keeps the whitespace between elements as the root's text (#text): so is it here.
  let between = '';
  let fields = 0;
  for (;;) {
    const next = skipSpace(body, i);
    between += body.slice(i, next);
    i = next;
    if (body.startsWith('</xml>', i)) {
      if (fields === 0 || skipSpace(body, i + 6) !== body.length || between.includes('\r')) return null;
      if (between !== '') out['#text'] = between;
      return out;
    }
    if (body.charCodeAt(i) !== 0x3c) return null;
    const open = body.indexOf('>', i);
    if (open < 0) return null;
    const name = body.slice(i + 1, open);
    // Object's own names (constructor, toString …) the general parser refuses: so they go to it.
    if (!fieldName.test(name) || name in out) return null;
    const close = `</${name}>`;
    let at = open + 1;
    let value: string;
    if (body.startsWith('<![CDATA[', at)) {
      const end = body.indexOf(']]>', at + 9);
      if (end < 0) return null;
      value = body.slice(at + 9, end);
      at = end + 3;
    } else {
      const end = body.indexOf('<', at);
      if (end < 0) return null;
      value = body.slice(at, end);
      if (value.includes('&') || value.includes(']]>')) return null;
      at = end;
    }
    // Line ends the general parser normalizes (\r\n to \n): left to it.
    if (value.includes('\r') || !body.startsWith(close, at)) return null;
    out[name] = value;
    fields++;
    i = at + close.length;
  }
}

/** The top-level fields of a push as strings (XML or JSON); refuses anything else. */
export function parsePushFields(body: string, format: WechatDataFormat): Record<string, string> {
  if (format === 'JSON') {
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      throw new WechatPushError('the body is not JSON');
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new WechatPushError('the JSON is not an object');
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(value)) if (typeof v === 'string' || typeof v === 'number') out[k] = String(v);
    return out;
  }
  // No document type declarations: their entities could make a small body expand into a large one.
  if (/<!DOCTYPE|<!ENTITY/i.test(body)) throw new WechatPushError('document type declarations are not accepted');
  return flatPushFields(body) ?? xmlPushFields(body);
}

/** The fields of any XML push, by the general validator and parser (refuses what is not well-formed, or has no <xml> root). */
export function xmlPushFields(body: string): Record<string, string> {
  let doc: Record<string, unknown>;
  try {
    if (XMLValidator.validate(body) !== true) throw new WechatPushError('the body is not well-formed XML');
    doc = parser.parse(body) as Record<string, unknown>;
  } catch (err) {
    // The parser's own refusals (e.g. a __proto__ element, too deep a document) are a malformed push too.
    if (err instanceof WechatPushError) throw err;
    throw new WechatPushError(`the XML is not accepted: ${err instanceof Error ? err.message.slice(0, 200) : 'unreadable'}`);
  }
  const root = doc.xml;
  if (!root || typeof root !== 'object' || Array.isArray(root)) throw new WechatPushError('the XML has no <xml> root');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(root)) if (typeof v === 'string') out[k] = v;
  return out;
}

function optional(fields: Record<string, string>, name: string, max: number): string | null {
  const v = Object.hasOwn(fields, name) ? fields[name] : undefined;
  if (v === undefined || v === '') return null;
  if (v.length > max) throw new WechatPushError(`${name} is longer than ${max} characters`);
  // What no store can hold (a NUL, an unpaired surrogate) is refused here, not when the chat's event is appended.
  const problem = textProblem(v);
  if (problem) throw new WechatPushError(`${name} ${problem}`);
  return v;
}

function required(fields: Record<string, string>, name: string, max: number): string {
  const v = optional(fields, name, max);
  if (v === null) throw new WechatPushError(`${name} is missing`);
  return v;
}

/** A media id is printable ASCII without spaces (WeChat's are letters, digits, - and _): anything else cannot be one, and is not sent on to media/get. */
function mediaIdOf(fields: Record<string, string>): string | null {
  const v = optional(fields, 'MediaId', 256);
  if (v !== null && !/^[\x21-\x7e]+$/.test(v)) throw new WechatPushError('MediaId is not a media id');
  return v;
}

/** A push's fields checked: the names every push has, and those of its type within sizes WeChat uses. */
export function pushOf(fields: Record<string, string>): WechatPush {
  // Seconds since 1970 in digits (not "1e10", " 17…" or "0x10"), before the year 10000 as every date in Kefu.
  const createTimeText = required(fields, 'CreateTime', 12);
  const createTime = Number(createTimeText);
  if (!/^\d+$/.test(createTimeText) || createTime <= 0 || createTime >= 253_402_300_800) throw new WechatPushError('CreateTime is not a time');
  const msgId = optional(fields, 'MsgId', 40);
  if (msgId !== null && !/^\d+$/.test(msgId)) throw new WechatPushError('MsgId is not a number');
  const fromUserName = required(fields, 'FromUserName', 128);
  if (!/^[A-Za-z0-9_-]+$/.test(fromUserName)) throw new WechatPushError('FromUserName is not an OpenID');
  return {
    toUserName: required(fields, 'ToUserName', 128),
    fromUserName,
    createTime,
    msgType: required(fields, 'MsgType', 40),
    msgId,
    content: optional(fields, 'Content', 4000),
    picUrl: optional(fields, 'PicUrl', 2000),
    mediaId: mediaIdOf(fields),
    format: optional(fields, 'Format', 20),
    event: optional(fields, 'Event', 64),
    eventKey: optional(fields, 'EventKey', 1000),
    sessionFrom: optional(fields, 'SessionFrom', 1000),
    unionId: optional(fields, 'UnionId', 128) ?? optional(fields, 'UnionID', 128),
    encrypt: null,
  };
}

/** The key a push is stored once under: its MsgId, or for events the customer, the time and the event. */
export function pushKey(p: WechatPush): string {
  return p.msgId !== null ? `msg:${p.msgId}` : `event:${p.fromUserName}:${p.createTime}:${p.event ?? p.msgType}`;
}

function cdata(value: string): string {
  return `<![CDATA[${value.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
}

/** An XML document of text fields (the fake WeChat's pushes, safe mode's replies). */
export function xmlOf(fields: Record<string, string | number>): string {
  return `<xml>${Object.entries(fields)
    .map(([k, v]) => `<${k}>${typeof v === 'number' ? String(v) : cdata(v)}</${k}>`)
    .join('')}</xml>`;
}
