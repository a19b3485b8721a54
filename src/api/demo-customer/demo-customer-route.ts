// GET /demo/customer?key=wc_...: a plain page that embeds the chat widget the way a business's site does, so
// a new user can try web chat without a site of their own (its origin must be in the channel's allowedOrigins).
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

const files = {
  page: readFileSync(new URL('./index.html', import.meta.url), 'utf8'),
  script: readFileSync(new URL('./app.js', import.meta.url), 'utf8'),
};

export async function demoCustomerRoutes(app: FastifyInstance): Promise<void> {
  const headers = { 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' };
  app.get('/demo/customer', async (_, reply) => reply.headers(headers).type('text/html; charset=utf-8').send(files.page));
  app.get('/demo/customer/app.js', async (_, reply) => reply.headers(headers).type('text/javascript; charset=utf-8').send(files.script));
}
