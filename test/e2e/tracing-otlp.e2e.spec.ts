// Traces from a real Kefu process to an OTLP/HTTP endpoint (issue 16): with OTEL_EXPORTER_OTLP_ENDPOINT set, a
// mutation's spans reach a local collector (JSON on /v1/traces, exported at the latest when Kefu stops), one
// trace from the GraphQL request down to SQL; with OTEL_TRACES_SAMPLER_ARG=0 (the same setup otherwise) none do.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { okHttp, seedOverHttp, spawnKefu } from '../support/process.ts';

const operatorToken = 'tracing-otlp-operator-token-123';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
}

/** A collector that keeps every span it is sent. */
async function startCollector() {
  const spans: OtlpSpan[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const doc = JSON.parse(body) as { resourceSpans?: { scopeSpans?: { spans?: OtlpSpan[] }[] }[] };
        for (const rs of doc.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) spans.push(...(ss.spans ?? []));
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('OpenTelemetry export from a Kefu process', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  async function run(sampleArg: string) {
    const collector = await startCollector();
    cleanups.push(collector.close);
    const dir = mkdtempSync(path.join(tmpdir(), 'kefu-otlp-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const kefu = await spawnKefu({ KEFU_DATA_DIR: dir, KEFU_OPERATOR_TOKEN: operatorToken, OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_TRACES_SAMPLER_ARG: sampleArg }, 180_000);
    try {
      const seed = await seedOverHttp(kefu.url, operatorToken);
      await okHttp(kefu.url, seed.agentToken, 'mutation TakeABreak { setPresence(input: { presence: BREAK, reason: "Meal" }) { id } }');
    } finally {
      // SIGTERM: Kefu closes and the SDK exports what it still holds.
      await kefu.stop();
    }
    return collector.spans;
  }

  it('sends a mutation\'s trace, request to SQL, to the OTLP endpoint', async () => {
    const spans = await run('1');
    const root = spans.find((s) => s.name === 'graphql mutation TakeABreak');
    expect(root, spans.map((x) => x.name).join(', ')).toBeDefined();
    const trace = spans.filter((s) => s.traceId === root!.traceId);
    const names = trace.map((s) => s.name);
    expect(names).toContain('command SetPresence');
    expect(names).toContain('eventstore append');
    expect(names.some((n) => n.startsWith('sql '))).toBe(true);
  }, 400_000);

  it('sends none of a request\'s spans when the sampling ratio is 0', async () => {
    const spans = await run('0');
    expect(spans.filter((s) => s.name.startsWith('graphql '))).toEqual([]);
  }, 400_000);
});
