// GET /widget.js: the customer's chat widget (src/api/widget/widget.js), served as is (no build step). A page
// embeds it with `<script src="https://kefu.example/widget.js" data-channel-key="wc_..." async></script>`
// from any origin: the widget then talks to the script's own origin, where the channel's allowed origins
// decide (startCustomerSession, CORS). Cached briefly and revalidated by ETag, so a new Kefu's widget
// reaches pages within minutes.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

const script = readFileSync(new URL('./widget.js', import.meta.url), 'utf8');
const etag = `"${createHash('sha256').update(script).digest('base64url').slice(0, 22)}"`;

export async function widgetRoutes(app: FastifyInstance): Promise<void> {
  app.get('/widget.js', async (request, reply) => {
    reply.headers({
      'cache-control': 'public, max-age=300, stale-while-revalidate=86400',
      etag,
      'x-content-type-options': 'nosniff',
      // Loaded by other sites' pages: allow it even where a cross-origin embedder policy is in force.
      'cross-origin-resource-policy': 'cross-origin',
      'access-control-allow-origin': '*',
    });
    if (request.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type('text/javascript; charset=utf-8').send(script);
  });
}
