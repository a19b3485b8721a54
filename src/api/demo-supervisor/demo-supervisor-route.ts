// GET /demo/supervisor: a supervisor dashboard that uses the public API only (issue 15, RP-1 and RP-3):
// today's overview as charts (reportOverview, then reportOverviewChanged), the agent and skill-group
// monitors (agentMonitor + agentStatusChanged, skillGroupMonitor + skillGroupMonitorChanged) and links to the
// CSV exports. Static files, no build step, no auth (the page's API calls carry the token). The chart
// library, uPlot, is the package in node_modules, served here: nothing comes from a CDN.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

const files = {
  page: readFileSync(new URL('./index.html', import.meta.url), 'utf8'),
  script: readFileSync(new URL('./app.js', import.meta.url), 'utf8'),
  charts: readFileSync(new URL('./charts.js', import.meta.url), 'utf8'),
  uplot: readFileSync(fileURLToPath(import.meta.resolve('uplot/dist/uPlot.esm.js')), 'utf8'),
  uplotCss: readFileSync(fileURLToPath(import.meta.resolve('uplot/dist/uPlot.min.css')), 'utf8'),
};

export async function demoSupervisorRoutes(app: FastifyInstance): Promise<void> {
  const headers = { 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' };
  const js = 'text/javascript; charset=utf-8';
  app.get('/demo/supervisor', async (_, reply) => reply.headers(headers).type('text/html; charset=utf-8').send(files.page));
  app.get('/demo/supervisor/app.js', async (_, reply) => reply.headers(headers).type(js).send(files.script));
  app.get('/demo/supervisor/charts.js', async (_, reply) => reply.headers(headers).type(js).send(files.charts));
  app.get('/demo/vendor/uplot/uPlot.esm.js', async (_, reply) => reply.headers(headers).type(js).send(files.uplot));
  app.get('/demo/vendor/uplot/uPlot.min.css', async (_, reply) => reply.headers(headers).type('text/css; charset=utf-8').send(files.uplotCss));
}
