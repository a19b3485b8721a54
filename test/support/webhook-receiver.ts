// A local HTTP server (any path under `path`) that receives webhooks the way a business's endpoint would, and lets a test decide how it
// answers (fail on purpose, hang, recover). It keeps every request it got, in arrival order.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  body: string;
  json: Record<string, unknown> & { eventId: string; kind: string; type: string; data: Record<string, unknown> };
  deliveryId: string;
  signature: string;
  /** The status this server answered. */
  answered: number;
  /** The request's path (endpoints may share a server). */
  path: string;
}

/** What to answer a request with: a status, a status after a delay, or 'hang' (never answer). */
export type Answer = number | 'hang' | { status: number; delayMs: number };

export interface WebhookReceiver {
  url: string;
  received: ReceivedWebhook[];
  /** Requests answered 2xx, first delivery of each Kefu-Delivery id only, in order. */
  delivered(): ReceivedWebhook[];
  /** How the next requests are answered; the default is 200. */
  answerWith(answer: (request: { n: number; deliveryId: string; path: string }) => Answer): void;
  /** Requests that are hanging now. */
  hanging(): number;
  close(): Promise<void>;
}

export async function startWebhookReceiver(path = '/hook'): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const open = new Set<ServerResponse>();
  let decide: (r: { n: number; deliveryId: string; path: string }) => Answer = () => 200;
  let n = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const deliveryId = String(req.headers['kefu-delivery'] ?? '');
      const url = req.url ?? '';
      const answer = url.startsWith(path) ? decide({ n: n++, deliveryId, path: url }) : 404;
      if (answer === 'hang') {
        open.add(res);
        res.on('close', () => open.delete(res));
        return;
      }
      const status = typeof answer === 'number' ? answer : answer.status;
      const reply = () => {
        received.push({ body, json: JSON.parse(body) as ReceivedWebhook['json'], deliveryId, signature: String(req.headers['kefu-signature'] ?? ''), answered: status, path: url });
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status >= 300 ? 'failing on purpose' : 'ok');
      };
      if (typeof answer === 'number') reply();
      else setTimeout(reply, answer.delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    received,
    delivered() {
      const seen = new Set<string>();
      return received.filter((r) => r.answered >= 200 && r.answered < 300 && !seen.has(r.deliveryId) && seen.add(r.deliveryId));
    },
    answerWith(answer) {
      decide = answer;
    },
    hanging: () => open.size,
    async close() {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
