// GET /demo/agent: a small agent page that uses the public API only (log in, presence, softphone, offers,
// answer, hang up, wrap-up), as an example for integrators and the page the browser test drives. Static
// files, no build step, no auth (the page's API calls carry the agent's token).
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

const files = {
  page: readFileSync(new URL('./index.html', import.meta.url), 'utf8'),
  script: readFileSync(new URL('./app.js', import.meta.url), 'utf8'),
  // The demo pages' API client (GraphQL over HTTP, graphql-ws), shared by /demo/agent and /demo/supervisor.
  apiClient: readFileSync(new URL('../demo-shared/kefu-api.js', import.meta.url), 'utf8'),
};

export async function demoAgentRoutes(app: FastifyInstance): Promise<void> {
  const headers = { 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' };
  app.get('/demo/agent', async (_, reply) => reply.headers(headers).type('text/html; charset=utf-8').send(files.page));
  app.get('/demo/agent/app.js', async (_, reply) => reply.headers(headers).type('text/javascript; charset=utf-8').send(files.script));
  app.get('/demo/shared/kefu-api.js', async (_, reply) => reply.headers(headers).type('text/javascript; charset=utf-8').send(files.apiClient));
}
