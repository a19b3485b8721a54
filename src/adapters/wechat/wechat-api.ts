// WeChat's server API as Kefu uses it: the stable access token (shared by every Kefu process through the read
// model: one refresher per account at a time, by a lease on its row, refreshed 5 minutes before it expires and
// again when WeChat calls it invalid), customer-service messages, typing, and temporary media up and down.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReadModel } from '../../projections/projection.ts';
import type { SecretBox } from './wechat-secrets.ts';

/** The account as the API needs it. */
export interface WechatApiAccount {
  instanceId: string;
  accountId: string;
  appId: string;
  /** Sealed. */
  appSecret: string;
}

/** An answer with an errcode other than 0 (or a failure to reach WeChat: errcode null). */
export class WechatApiError extends Error {
  override readonly name = 'WechatApiError';
  readonly errcode: number | null;
  constructor(errcode: number | null, message: string) {
    super(message);
    this.errcode = errcode;
  }
}

/** WeChat's words for the codes Kefu explains to agents. */
export const wechatErrorText: Record<number, string> = {
  [-1]: 'WeChat is busy',
  40001: 'the access token is invalid',
  40003: 'not a valid OpenID for this account',
  40013: "WeChat does not know that AppID (is the mini program linked to the official account?)",
  40014: 'the access token is invalid',
  40164: "Kefu's address is not on the account's IP allow-list",
  42001: 'the access token expired',
  45009: 'the account reached its daily API quota',
  45011: 'API calls too frequent',
  45015: 'the 48-hour window to reply has closed (the customer has not written for 48 hours)',
  45047: "the customer-service message quota for this customer's window is used up",
  48001: 'the account is not authorised for this API',
};

const tokenErrors = new Set([40001, 40014, 42001]);
/** Worth trying again later: busy, frequency limits, and what a fresh token may fix. */
export const transientErrors = new Set([-1, 45011, ...tokenErrors]);

export interface WechatApiOptions {
  db: ReadModel;
  secrets: SecretBox;
  apiBase: string;
  clock?: () => Date;
  /** How long before expiry a token is refreshed (ms). */
  refreshEarlyMs?: number;
  timeoutMs?: number;
}

export class WechatApi {
  private readonly o: Required<WechatApiOptions>;

  constructor(options: WechatApiOptions) {
    this.o = { clock: () => new Date(), refreshEarlyMs: 5 * 60_000, timeoutMs: 10_000, ...options };
  }

  private url(path: string, query: Record<string, string>): string {
    const u = new URL(path, this.o.apiBase.endsWith('/') ? this.o.apiBase : `${this.o.apiBase}/`);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    return u.toString();
  }

  private async fetchJson(url: string, init: RequestInit): Promise<Record<string, unknown>> {
    let res: Response;
    try {
      res = await fetch(url, { ...init, signal: AbortSignal.timeout(this.o.timeoutMs) });
    } catch (err) {
      throw new WechatApiError(null, `WeChat could not be reached: ${(err as Error).message}`);
    }
    const text = await res.text();
    if (!res.ok) throw new WechatApiError(null, `WeChat answered HTTP ${res.status}`);
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new WechatApiError(null, 'WeChat answered something that is not JSON');
    }
  }

  private static check(body: Record<string, unknown>): void {
    const code = typeof body.errcode === 'number' ? body.errcode : 0;
    if (code !== 0) throw new WechatApiError(code, `WeChat error ${code}: ${wechatErrorText[code] ?? String(body.errmsg ?? 'unknown')}`);
  }

  /**
   * The account's access token. `invalid`: the token WeChat just refused; it is refreshed (force_refresh)
   * unless another caller has replaced it already.
   */
  async accessToken(account: WechatApiAccount, invalid?: string): Promise<string> {
    const { db } = this.o;
    const key = { instance_id: account.instanceId, account_id: account.accountId };
    for (let attempt = 0; attempt < 300; attempt++) {
      const now = this.o.clock();
      const row = await db.selectFrom('wechat_access_tokens').selectAll().where('instance_id', '=', key.instance_id).where('account_id', '=', key.account_id).executeTakeFirst();
      const fresh = row?.token && row.expires_at && new Date(row.expires_at).getTime() - this.o.refreshEarlyMs > now.getTime();
      if (fresh && row.token !== invalid) return row.token!;
      if (!row) {
        await db
          .insertInto('wechat_access_tokens')
          .values({ ...key, token: null, expires_at: null, lease_until: null, updated_at: now })
          .onConflict((c) => c.columns(['instance_id', 'account_id']).doNothing())
          .execute();
      }
      // One refresher at a time across processes: whoever moves lease_until forward refreshes.
      const leased = await db
        .updateTable('wechat_access_tokens')
        .set({ lease_until: new Date(now.getTime() + 30_000), updated_at: now })
        .where('instance_id', '=', key.instance_id)
        .where('account_id', '=', key.account_id)
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
        .executeTakeFirst();
      if (Number(leased.numUpdatedRows) === 1) {
        try {
          const body = await this.fetchJson(this.url('cgi-bin/stable_token', {}), {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ grant_type: 'client_credential', appid: account.appId, secret: this.o.secrets.open(account.appSecret), force_refresh: invalid !== undefined && row?.token === invalid }),
          });
          WechatApi.check(body);
          const token = typeof body.access_token === 'string' ? body.access_token : '';
          const expiresIn = typeof body.expires_in === 'number' ? body.expires_in : 7200;
          if (!token) throw new WechatApiError(null, 'WeChat gave no access token');
          await db
            .updateTable('wechat_access_tokens')
            .set({ token, expires_at: new Date(this.o.clock().getTime() + expiresIn * 1000), lease_until: null, updated_at: this.o.clock() })
            .where('instance_id', '=', key.instance_id)
            .where('account_id', '=', key.account_id)
            .execute();
          return token;
        } catch (err) {
          await db.updateTable('wechat_access_tokens').set({ lease_until: null }).where('instance_id', '=', key.instance_id).where('account_id', '=', key.account_id).execute();
          throw err;
        }
      }
      // Another process is refreshing: its token will be in the row shortly.
      await sleep(100);
    }
    throw new WechatApiError(null, 'no access token: another process held the refresh too long');
  }

  /** A call with the account's token; a token WeChat calls invalid or expired is refreshed and the call made once more. */
  private async withToken<T>(account: WechatApiAccount, call: (token: string) => Promise<T>): Promise<T> {
    const token = await this.accessToken(account);
    try {
      return await call(token);
    } catch (err) {
      if (!(err instanceof WechatApiError) || err.errcode === null || !tokenErrors.has(err.errcode)) throw err;
      return call(await this.accessToken(account, token));
    }
  }

  private postJson(account: WechatApiAccount, path: string, body: unknown): Promise<Record<string, unknown>> {
    return this.withToken(account, async (token) => {
      const answer = await this.fetchJson(this.url(path, { access_token: token }), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      WechatApi.check(answer);
      return answer;
    });
  }

  async sendText(account: WechatApiAccount, openId: string, content: string): Promise<void> {
    await this.postJson(account, 'cgi-bin/message/custom/send', { touser: openId, msgtype: 'text', text: { content } });
  }

  async sendImage(account: WechatApiAccount, openId: string, mediaId: string): Promise<void> {
    await this.postJson(account, 'cgi-bin/message/custom/send', { touser: openId, msgtype: 'image', image: { media_id: mediaId } });
  }

  /**
   * A link card (issue 13). Mini programs: msgtype `link` (title, description, url, thumb_url). Official
   * accounts have no `link` type in the customer-service API; their link card is `news` with one article
   * (title, description, url, picurl), the "external link" kind, limited to one article (45008 otherwise).
   */
  async sendLink(account: WechatApiAccount, accountKind: 'OFFICIAL_ACCOUNT' | 'MINI_PROGRAM', openId: string, link: { title: string; description: string; url: string; thumbUrl: string }): Promise<void> {
    if (accountKind === 'MINI_PROGRAM') {
      await this.postJson(account, 'cgi-bin/message/custom/send', { touser: openId, msgtype: 'link', link: { title: link.title, description: link.description, url: link.url, thumb_url: link.thumbUrl } });
    } else {
      await this.postJson(account, 'cgi-bin/message/custom/send', { touser: openId, msgtype: 'news', news: { articles: [{ title: link.title, description: link.description, url: link.url, picurl: link.thumbUrl }] } });
    }
  }

  /**
   * A mini program card (issue 13): `miniprogrampage` with its title, page path and cover (an image media_id).
   * An official account's card names the linked mini program (appid); a mini program's opens its own pages (no appid).
   */
  async sendMiniProgramPage(account: WechatApiAccount, openId: string, page: { title: string; pagePath: string; thumbMediaId: string; appId?: string | null }): Promise<void> {
    const card = { title: page.title, ...(page.appId ? { appid: page.appId } : {}), pagepath: page.pagePath, thumb_media_id: page.thumbMediaId };
    await this.postJson(account, 'cgi-bin/message/custom/send', { touser: openId, msgtype: 'miniprogrampage', miniprogrampage: card });
  }

  async typing(account: WechatApiAccount, openId: string, typing: boolean): Promise<void> {
    await this.postJson(account, 'cgi-bin/message/custom/typing', { touser: openId, command: typing ? 'Typing' : 'CancelTyping' });
  }

  /** Uploads temporary media (3 days) and returns its media_id. */
  async uploadImage(account: WechatApiAccount, bytes: Uint8Array, contentType: string, filename: string): Promise<string> {
    const answer = await this.withToken(account, async (token) => {
      const form = new FormData();
      form.append('media', new Blob([bytes], { type: contentType }), filename);
      const body = await this.fetchJson(this.url('cgi-bin/media/upload', { access_token: token, type: 'image' }), { method: 'POST', body: form });
      WechatApi.check(body);
      return body;
    });
    if (typeof answer.media_id !== 'string') throw new WechatApiError(null, 'WeChat gave no media_id');
    return answer.media_id;
  }

  /** Downloads temporary media (an inbound image or voice): its bytes and type. */
  async downloadMedia(account: WechatApiAccount, mediaId: string, maxBytes: number): Promise<{ bytes: Buffer; contentType: string }> {
    return this.withToken(account, async (token) => {
      let res: Response;
      try {
        res = await fetch(this.url('cgi-bin/media/get', { access_token: token, media_id: mediaId }), { signal: AbortSignal.timeout(this.o.timeoutMs) });
      } catch (err) {
        throw new WechatApiError(null, `WeChat could not be reached: ${(err as Error).message}`);
      }
      const contentType = res.headers.get('content-type') ?? 'application/octet-stream';
      const bytes = Buffer.from(await res.arrayBuffer());
      // Errors come as JSON; media as its own type.
      if (contentType.includes('json') || contentType.startsWith('text/')) {
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
        } catch {
          throw new WechatApiError(null, 'WeChat answered media/get with text that is not JSON');
        }
        WechatApi.check(body);
        throw new WechatApiError(null, 'WeChat answered media/get without the media');
      }
      if (!res.ok) throw new WechatApiError(null, `WeChat answered HTTP ${res.status}`);
      if (bytes.length > maxBytes) throw new WechatApiError(null, `the media is larger than ${maxBytes} bytes`);
      return { bytes, contentType: contentType.split(';')[0]!.trim() };
    });
  }
}
