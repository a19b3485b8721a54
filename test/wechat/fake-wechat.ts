// A local WeChat for tests (issue 13), speaking the documented protocol both ways:
// - as WeChat's servers calling Kefu: URL checks and pushes, signed (SHA-1 of sorted token, timestamp, nonce) and
//   in safe mode encrypted (AES-256-CBC with the EncodingAESKey, msg_signature), XML or JSON;
// - as WeChat's API Kefu calls: /cgi-bin/stable_token, /cgi-bin/message/custom/send, /cgi-bin/message/custom/typing,
//   /cgi-bin/media/upload, /cgi-bin/media/get, answering WeChat's error codes when a test asks.
//   custom/send checks each message type's documented JSON (text, image, link and miniprogrampage for mini
//   programs; text, image, news with one article and miniprogrampage naming a linked mini program's appid for
//   official accounts) and refuses others as WeChat would.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encryptWechatMessage, wechatSignature } from '../../src/adapters/wechat/wechat-crypto.ts';
import { xmlOf } from '../../src/adapters/wechat/wechat-messages.ts';

export interface FakeAccount {
  appId: string;
  appSecret: string;
  token: string;
  encodingAesKey: string | null;
  mode: 'PLAIN' | 'COMPATIBLE' | 'SAFE';
  format: 'XML' | 'JSON';
  originalId: string;
  callbackUrl: string;
}

export interface SentMessage {
  appId: string;
  touser: string;
  msgtype: string;
  body: Record<string, unknown>;
  at: number;
}

export interface PushOptions {
  /** Sign with another token (a forged push). */
  wrongSignature?: boolean;
  wrongMsgSignature?: boolean;
  /** Seconds added to now for the timestamp. */
  skewSeconds?: number;
  /** Seal for another AppID. */
  appId?: string;
  /** Reuse a nonce and timestamp (WeChat's retries repeat the request). */
  nonce?: string;
  timestamp?: number;
  /** Send this body as it is. */
  rawBody?: string;
}

export class FakeWechat {
  private server: Server | null = null;
  readonly sent: SentMessage[] = [];
  readonly typing: { touser: string; command: string }[] = [];
  readonly uploads = new Map<string, { bytes: Buffer; contentType: string }>();
  private readonly media = new Map<string, { bytes: Buffer; contentType: string }>();
  /** Valid tokens → appId. */
  private readonly tokens = new Map<string, string>();
  readonly tokenRequests: { appid: string; force_refresh: boolean }[] = [];
  /** Errors to answer next, per path: the errcode, as many times as queued. */
  private readonly failures = new Map<string, number[]>();
  private readonly pickedFailures: { path: string; when: (body: Record<string, unknown>) => boolean; errcode: number; times: number }[] = [];
  private readonly secrets = new Map<string, string>();
  private readonly kinds = new Map<string, 'OFFICIAL_ACCOUNT' | 'MINI_PROGRAM'>();
  /** Permanent materials (add_material's media ids), e.g. a configured mini program card's cover. */
  private readonly materials = new Set<string>();
  /** Mini programs linked to an official account (its console's 小程序管理), by the account's AppID. */
  private readonly linkedMiniPrograms = new Map<string, Set<string>>();

  get base(): string {
    const a = this.server!.address() as AddressInfo;
    return `http://127.0.0.1:${a.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  /** The AppID and AppSecret pair the stable_token call accepts. */
  register(appId: string, appSecret: string, kind: 'OFFICIAL_ACCOUNT' | 'MINI_PROGRAM' = 'OFFICIAL_ACCOUNT'): void {
    this.secrets.set(appId, appSecret);
    this.kinds.set(appId, kind);
  }

  /** The next `times` calls of a path (e.g. 'cgi-bin/message/custom/send') answer errcode. */
  failNext(path: string, errcode: number, times = 1): void {
    const list = this.failures.get(path) ?? [];
    for (let i = 0; i < times; i++) list.push(errcode);
    this.failures.set(path, list);
  }

  /** The next `times` calls of a path whose JSON body `when` picks answer errcode (e.g. only text messages). */
  failWhen(path: string, when: (body: Record<string, unknown>) => boolean, errcode: number, times = 1): void {
    this.pickedFailures.push({ path, when, errcode, times });
  }

  /** Links a mini program to an official account: the account's miniprogrampage may then name its AppID. */
  linkMiniProgram(officialAccountAppId: string, miniProgramAppId: string): void {
    this.linkedMiniPrograms.set(officialAccountAppId, (this.linkedMiniPrograms.get(officialAccountAppId) ?? new Set()).add(miniProgramAppId));
  }

  /** A permanent image material the account has (its media_id works as a thumb_media_id). */
  addMaterial(mediaId: string): void {
    this.materials.add(mediaId);
  }

  /** WeChat answers normally again. */
  clearFailures(): void {
    this.failures.clear();
    this.pickedFailures.length = 0;
  }

  /** Every token handed out so far stops working (WeChat then answers 42001). */
  expireTokens(): void {
    this.tokens.clear();
  }

  /** Media a customer sent: its MediaId for a push. */
  addMedia(bytes: Buffer, contentType: string): string {
    const id = `media_${randomBytes(8).toString('hex')}`;
    this.media.set(id, { bytes, contentType });
    return id;
  }

  // ---- WeChat calling Kefu -------------------------------------------------------------------------

  async urlCheck(account: FakeAccount, options: { wrongSignature?: boolean } = {}): Promise<{ status: number; text: string; echostr: string }> {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonce = randomBytes(6).toString('hex');
    const echostr = randomBytes(9).toString('hex');
    const signature = wechatSignature(options.wrongSignature ? 'forged' : account.token, timestamp, nonce);
    const res = await fetch(`${account.callbackUrl}?signature=${signature}&timestamp=${timestamp}&nonce=${nonce}&echostr=${echostr}`);
    return { status: res.status, text: await res.text(), echostr };
  }

  /** The HTTP request WeChat makes for a push of these fields (to send, or to send again as a retry). */
  pushRequest(account: FakeAccount, fields: Record<string, string | number>, o: PushOptions = {}): { url: string; body: string; contentType: string } {
    const timestamp = String(o.timestamp ?? Math.floor(Date.now() / 1000) + (o.skewSeconds ?? 0));
    const nonce = o.nonce ?? randomBytes(6).toString('hex');
    const signature = wechatSignature(o.wrongSignature ? 'forged' : account.token, timestamp, nonce);
    const plain = account.format === 'JSON' ? JSON.stringify(fields) : xmlOf(fields);
    let body = plain;
    let query = `signature=${signature}&timestamp=${timestamp}&nonce=${nonce}&openid=${String(fields.FromUserName)}`;
    if (account.mode !== 'PLAIN') {
      const encrypted = encryptWechatMessage(account.encodingAesKey!, o.appId ?? account.appId, plain);
      const msgSignature = wechatSignature(o.wrongMsgSignature ? 'forged' : account.token, timestamp, nonce, encrypted);
      const outer: Record<string, string | number> = account.mode === 'COMPATIBLE' ? { ...fields, Encrypt: encrypted } : { ToUserName: String(fields.ToUserName), Encrypt: encrypted };
      body = account.format === 'JSON' ? JSON.stringify(outer) : xmlOf(outer);
      query += `&encrypt_type=aes&msg_signature=${msgSignature}`;
    }
    return { url: `${account.callbackUrl}?${query}`, body: o.rawBody ?? body, contentType: account.format === 'JSON' ? 'application/json' : 'text/xml' };
  }

  async send(request: { url: string; body: string; contentType: string }): Promise<{ status: number; text: string }> {
    const res = await fetch(request.url, { method: 'POST', headers: { 'content-type': request.contentType }, body: request.body });
    return { status: res.status, text: await res.text() };
  }

  async push(account: FakeAccount, fields: Record<string, string | number>, o: PushOptions = {}): Promise<{ status: number; text: string }> {
    return this.send(this.pushRequest(account, fields, o));
  }

  // ---- Kefu calling WeChat -------------------------------------------------------------------------

  /**
   * custom/send's body as the docs define it per account kind and msgtype: null when WeChat would take it,
   * else its answer (40008 a message type the account kind does not have, 47001 malformed fields, 45008 more
   * than one news article, 40007 a thumb_media_id never uploaded, 40013 an official account's miniprogrampage
   * naming a mini program not linked to it).
   */
  checkCustomMessage(kind: 'OFFICIAL_ACCOUNT' | 'MINI_PROGRAM', body: Record<string, unknown>, appId = ''): { errcode: number; errmsg: string } | null {
    const bad = (errcode: number, errmsg: string) => ({ errcode, errmsg });
    if (!isText(body.touser) || body.touser === '') return bad(40003, 'invalid openid');
    const types = kind === 'MINI_PROGRAM' ? ['text', 'image', 'link', 'miniprogrampage'] : ['text', 'image', 'news', 'miniprogrampage'];
    if (!isText(body.msgtype) || !types.includes(body.msgtype)) return bad(40008, `invalid message type ${String(body.msgtype)} for this account`);
    switch (body.msgtype) {
      case 'text':
        return hasStrings(body.text, ['content']) ? null : bad(47001, 'data format error: text.content');
      case 'image':
        return hasStrings(body.image, ['media_id']) ? null : bad(47001, 'data format error: image.media_id');
      case 'link':
        return hasStrings(body.link, ['title', 'description', 'url', 'thumb_url']) ? null : bad(47001, 'data format error: link needs title, description, url, thumb_url');
      case 'news': {
        const articles = (body.news as { articles?: unknown } | undefined)?.articles;
        if (!Array.isArray(articles) || articles.length === 0) return bad(47001, 'data format error: news.articles');
        if (articles.length > 1) return bad(45008, 'article size out of limit');
        return hasStrings(articles[0], ['title', 'description', 'url', 'picurl']) ? null : bad(47001, 'data format error: news article needs title, description, url, picurl');
      }
      case 'miniprogrampage': {
        // Official accounts name the mini program (appid: one linked to the account); a mini program's card is its own.
        const page = body.miniprogrampage as Record<string, unknown> | undefined;
        const fields = kind === 'OFFICIAL_ACCOUNT' ? ['title', 'appid', 'pagepath', 'thumb_media_id'] : ['title', 'pagepath', 'thumb_media_id'];
        if (!hasStrings(page, fields)) return bad(47001, `data format error: miniprogrampage needs ${fields.join(', ')}`);
        if (kind === 'OFFICIAL_ACCOUNT' && !(this.linkedMiniPrograms.get(appId) ?? new Set()).has(page!.appid as string)) return bad(40013, 'invalid appid: not a mini program linked to this account');
        const thumb = page!.thumb_media_id as string;
        return this.uploads.has(thumb) || this.materials.has(thumb) ? null : bad(40007, 'invalid media_id');
      }
      default:
        return bad(40008, 'invalid message type');
    }
  }

  private json(res: ServerResponse, body: unknown): void {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://fake');
    const path = url.pathname.replace(/^\//, '');
    if (path === 'cgi-bin/stable_token') {
      const body = JSON.parse(raw.toString('utf8')) as { grant_type: string; appid: string; secret: string; force_refresh?: boolean };
      this.tokenRequests.push({ appid: body.appid, force_refresh: Boolean(body.force_refresh) });
      if (body.grant_type !== 'client_credential' || this.secrets.get(body.appid) !== body.secret) return this.json(res, { errcode: 40125, errmsg: 'invalid appsecret' });
      const token = `tok_${randomBytes(12).toString('hex')}`;
      this.tokens.set(token, body.appid);
      return this.json(res, { access_token: token, expires_in: 7200 });
    }
    const appId = this.tokens.get(url.searchParams.get('access_token') ?? '');
    if (!appId) return this.json(res, { errcode: 42001, errmsg: 'access_token expired' });
    const failure = this.failures.get(path)?.shift();
    if (failure !== undefined) return this.json(res, { errcode: failure, errmsg: `fake error ${failure}` });
    const picked = this.pickedFailures.find((f) => f.path === path && f.times > 0 && f.when(jsonOrEmpty(raw)));
    if (picked) {
      picked.times--;
      return this.json(res, { errcode: picked.errcode, errmsg: `fake error ${picked.errcode}` });
    }
    switch (path) {
      case 'cgi-bin/message/custom/send': {
        const body = JSON.parse(raw.toString('utf8')) as { touser: string; msgtype: string } & Record<string, unknown>;
        const refused = this.checkCustomMessage(this.kinds.get(appId) ?? 'OFFICIAL_ACCOUNT', body, appId);
        if (refused) return this.json(res, refused);
        this.sent.push({ appId, touser: body.touser, msgtype: body.msgtype, body, at: Date.now() });
        return this.json(res, { errcode: 0, errmsg: 'ok' });
      }
      case 'cgi-bin/message/custom/typing': {
        const body = JSON.parse(raw.toString('utf8')) as { touser: string; command: string };
        this.typing.push(body);
        return this.json(res, { errcode: 0, errmsg: 'ok' });
      }
      case 'cgi-bin/media/upload': {
        const file = multipartFile(raw, req.headers['content-type'] ?? '', 'media');
        if (!file) return this.json(res, { errcode: 41005, errmsg: 'media data missing' });
        const id = `up_${randomBytes(8).toString('hex')}`;
        this.uploads.set(id, file);
        return this.json(res, { type: url.searchParams.get('type'), media_id: id, created_at: Math.floor(Date.now() / 1000) });
      }
      case 'cgi-bin/media/get': {
        const m = this.media.get(url.searchParams.get('media_id') ?? '');
        if (!m) return this.json(res, { errcode: 40007, errmsg: 'invalid media_id' });
        res.writeHead(200, { 'content-type': m.contentType });
        res.end(m.bytes);
        return;
      }
      default:
        res.writeHead(404);
        res.end();
    }
  }
}

const isText = (v: unknown): v is string => typeof v === 'string';
/** An object whose listed fields are all strings. */
const hasStrings = (v: unknown, fields: string[]): boolean => v !== null && typeof v === 'object' && fields.every((f) => isText((v as Record<string, unknown>)[f]));

/** The named part of a multipart/form-data body. */
function multipartFile(raw: Buffer, contentType: string, field: string): { bytes: Buffer; contentType: string } | null {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  if (!boundary) return null;
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  let start = raw.indexOf(delimiter);
  while (start >= 0) {
    const next = raw.indexOf(delimiter, start + delimiter.length);
    if (next < 0) break;
    const part = raw.subarray(start + delimiter.length + 2, next - 2);
    const headerEnd = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, headerEnd).toString('utf8');
    if (new RegExp(`name="${field}"`).test(headers)) {
      const type = /content-type:\s*([^\r\n]+)/i.exec(headers)?.[1] ?? 'application/octet-stream';
      return { bytes: Buffer.from(part.subarray(headerEnd + 4)), contentType: type.trim() };
    }
    start = next;
  }
  return null;
}

/** A request's JSON body, or {} when it has none (multipart uploads, GETs). */
function jsonOrEmpty(raw: Buffer): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(raw.toString('utf8'));
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
