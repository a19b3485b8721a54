// Sends one webhook delivery: a POST of the JSON body, signed, with a time limit; redirects are not followed
// (a redirect could lead to a private address). The answer's status says whether it was delivered (2xx).
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { isPrivateAddress, PrivateAddressError, safeLookup } from './webhook-address.ts';
import { signatureHeader } from './webhook-signature.ts';

export interface WebhookRequest {
  url: string;
  body: string;
  secret: string;
  deliveryId: string;
  eventId: string;
  kind: string;
}

export type WebhookAnswer = { ok: true; status: number } | { ok: false; status: number | null; error: string };

export interface WebhookSender {
  /** `signal` aborts the request (Kefu stopping); the answer is then a failure. */
  send(request: WebhookRequest, signal?: AbortSignal): Promise<WebhookAnswer>;
  /** Closes kept-alive connections. */
  close?(): void;
}

export class HttpWebhookSender implements WebhookSender {
  private readonly options: { allowHttp: boolean; allowPrivate: boolean; timeoutMs: number; clock: () => Date };
  // Connections are kept alive between deliveries (one TLS handshake per endpoint, not per delivery); each new
  // connection's address is checked by safeLookup when it is made.
  private readonly agents: { http: http.Agent; https: https.Agent };

  constructor(options: { allowHttp: boolean; allowPrivate: boolean; timeoutMs: number; clock?: () => Date }) {
    this.options = { clock: () => new Date(), ...options };
    // No socket limit: each endpoint has at most one request in flight, and endpoints on one host must not wait for each other.
    const agentOptions = { keepAlive: true, lookup: safeLookup(options.allowPrivate) };
    this.agents = { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) };
  }

  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  send(request: WebhookRequest, signal?: AbortSignal): Promise<WebhookAnswer> {
    const { allowHttp, allowPrivate, timeoutMs } = this.options;
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return Promise.resolve({ ok: false, status: null, error: 'not a URL' });
    }
    if (url.protocol === 'http:' && !allowHttp) return Promise.resolve({ ok: false, status: null, error: 'http URLs are not allowed (KEFU_WEBHOOK_ALLOW_HTTP)' });
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (!allowPrivate && isIP(host) !== 0 && isPrivateAddress(host)) {
      return Promise.resolve({ ok: false, status: null, error: `${host} is a private or reserved address` });
    }
    const t = Math.floor(this.options.clock().getTime() / 1000);
    const body = Buffer.from(request.body, 'utf8');
    const client = url.protocol === 'https:' ? https : http;
    const agent = url.protocol === 'https:' ? this.agents.https : this.agents.http;
    return new Promise<WebhookAnswer>((resolve) => {
      let settled = false;
      const done = (answer: WebhookAnswer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(answer);
      };
      const req = client.request(
        url,
        {
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': body.length,
            'user-agent': 'Kefu-Webhooks/1',
            'kefu-delivery': request.deliveryId,
            'kefu-event': request.eventId,
            'kefu-event-kind': request.kind,
            'kefu-signature': signatureHeader(request.secret, request.body, t),
          },
        },
        (res) => {
          const status = res.statusCode ?? 0;
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            // A little of the answer goes into the log's last error; the rest is read and dropped.
            if (text.length < 200) text += chunk;
          });
          res.on('end', () => done(status >= 200 && status < 300 ? { ok: true, status } : { ok: false, status, error: `HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}` }));
          res.on('error', (err) => done({ ok: false, status, error: err.message }));
        },
      );
      const timer = setTimeout(() => {
        req.destroy(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const abort = () => req.destroy(new Error('Kefu is stopping'));
      if (signal?.aborted) abort();
      else signal?.addEventListener('abort', abort, { once: true });
      req.on('close', () => signal?.removeEventListener('abort', abort));
      req.on('error', (err) => done({ ok: false, status: null, error: err instanceof PrivateAddressError ? err.message : (err as Error).message || String(err) }));
      req.end(body);
    });
  }
}
