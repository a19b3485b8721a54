// GET /graphiql: GraphiQL served whole by Kefu (the page, GraphiQL, React), from node_modules, so it works
// offline and no request leaves the machine (mercurius' own GraphiQL loads from a CDN). Static, no auth: the
// page's requests to /graphql carry the token the user types in its Headers tab.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';

const require = createRequire(import.meta.url);
const packageDir = (name: string) => path.dirname(require.resolve(`${name}/package.json`));

/** The only files /graphiql/assets serves: a fixed list, never a path from the request. */
const assets: Record<string, { file: () => string; type: string }> = {
  'graphiql.min.js': { file: () => path.join(packageDir('graphiql'), 'graphiql.min.js'), type: 'text/javascript; charset=utf-8' },
  'graphiql.min.css': { file: () => path.join(packageDir('graphiql'), 'graphiql.min.css'), type: 'text/css; charset=utf-8' },
  'react.production.min.js': { file: () => path.join(packageDir('react'), 'umd', 'react.production.min.js'), type: 'text/javascript; charset=utf-8' },
  'react-dom.production.min.js': { file: () => path.join(packageDir('react-dom'), 'umd', 'react-dom.production.min.js'), type: 'text/javascript; charset=utf-8' },
};

export async function graphiqlRoutes(app: FastifyInstance): Promise<void> {
  const page = readFileSync(new URL('./index.html', import.meta.url), 'utf8');
  const script = readFileSync(new URL('./graphiql-page.js', import.meta.url), 'utf8');
  // Read on first use (GraphiQL is megabytes), then kept.
  const loaded = new Map<string, Buffer>();
  const headers = { 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' };
  app.get('/graphiql', async (_, reply) => reply.headers(headers).type('text/html; charset=utf-8').send(page));
  app.get('/graphiql/graphiql-page.js', async (_, reply) => reply.headers(headers).type('text/javascript; charset=utf-8').send(script));
  app.get<{ Params: { name: string } }>('/graphiql/assets/:name', async (request, reply) => {
    const asset = Object.hasOwn(assets, request.params.name) ? assets[request.params.name] : undefined;
    if (!asset) return reply.code(404).send({ error: 'no such GraphiQL file' });
    let body = loaded.get(request.params.name);
    if (!body) {
      body = readFileSync(asset.file());
      loaded.set(request.params.name, body);
    }
    // The versions change only with Kefu's dependencies: cache for a day.
    return reply.headers({ 'cache-control': 'public, max-age=86400', 'x-content-type-options': 'nosniff' }).type(asset.type).send(body);
  });
}
