// GraphQL fuzzing against a running Kefu on PostgreSQL: random and mutated documents and variables for every
// query and mutation of schema.graphql, sent over HTTP by every kind of principal, and subscriptions and raw
// frames over graphql-ws. No answer may be a 5xx, carry INTERNAL_SERVER_ERROR, or show a stack trace or
// PostgreSQL's text; Kefu must be healthy after. Each distinct failure is reported once, with a replayable
// example. The seed is printed; KEFU_FUZZ_SEED=<seed> replays a run.
import { readFileSync } from 'node:fs';
import { buildSchema, type GraphQLField } from 'graphql';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaPath } from '../../src/api/app.ts';
import { operatorToken, seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { wsClient } from '../support/ws-client.ts';
import { DocumentGenerator, Random, type KnownIds } from './graphql-fuzz-documents.ts';
import { fuzzSeed } from '../support/seeded-random.ts';

const seed = fuzzSeed();
/** Documents over HTTP: the run stops at this count or at the time budget, whichever comes first. */
const maxDocuments = 6000;
const budgetMs = 22_000;
const inFlight = 4;
const subscriptionDocuments = 40;

const stackTrace = /\n\s+at |\bat [\w$.<>]+ \((?:file:|node:|\/)|\.[cm]?[jt]s:\d+:\d+|node_modules\//;
const databaseText =
  /syntax error at or near|invalid byte sequence|invalid input syntax for|violates (?:unique|foreign key|not-null|check) constraint|duplicate key value|out of range for type|date\/time field value out of range|relation "[^"]*" does not exist|column "[^"]*"|unterminated quoted|value too long for type|invalid message format|unsupported Unicode escape|\bkysely\b|\bpglite\b|\bpg_[a-z]+/i;

interface FuzzRequest {
  operation: string;
  principal: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
  url?: string;
}

interface Failure {
  key: string;
  count: number;
  operations: Set<string>;
  example: string;
}

/** Strings shortened for the report: long runs of one character are described, not printed. */
function shorten(value: unknown, max = 400): string {
  const text = JSON.stringify(value, (_, v: unknown) => (typeof v === 'string' && v.length > 60 ? `${v.slice(0, 20)}…(${v.length} chars)` : v)) ?? String(value);
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** The shape of a message, to group failures: ids, numbers and quoted values taken out. */
function messageShape(message: string): string {
  return message
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<id>')
    .replace(/"[^"]*"/g, '"…"')
    .replace(/\d+/g, 'N')
    .slice(0, 160);
}

describe('GraphQL fuzz (postgres)', () => {
  let t: TestKefu;
  let url: string;
  const principals: { name: string; token: string | null }[] = [];
  const known: KnownIds = { ids: [], logins: [] };
  const failures = new Map<string, Failure>();
  /** Answers with INTERNAL_SERVER_ERROR, replayed one by one after the run to read the server's error. */
  const internalErrors = new Map<string, { request: FuzzRequest; example: string; cause: string | undefined }>();
  /** How the answers came out (a code, "data" or an HTTP status), to see what the run reached. */
  const outcomes = new Map<string, number>();
  /** What the server logged as unexpected errors, and when. */
  const logged: { at: number; error: string }[] = [];

  function fail(operation: string, problem: string, example: string) {
    const key = problem;
    const found = failures.get(key) ?? { key, count: 0, operations: new Set<string>(), example };
    found.count += 1;
    found.operations.add(operation);
    failures.set(key, found);
  }

  /** Checks one answer; `request` says how to replay it. */
  function inspect(operation: string, request: string, status: number, text: string, replayable?: FuzzRequest, begun = performance.now()) {
    const example = `${request}\n      -> HTTP ${status} ${text.length > 600 ? `${text.slice(0, 600)}…` : text}`;
    if (status >= 500) {
      let message: string;
      try {
        message = (JSON.parse(text) as { errors?: { message: string }[]; error?: { message: string }; message?: string }).errors?.[0]?.message ?? '';
      } catch {
        message = text.slice(0, 100);
      }
      fail(operation, `HTTP ${status}: ${messageShape(message)}`, example);
    }
    if (stackTrace.test(text)) fail(operation, `stack trace in the answer`, example);
    if (databaseText.test(text)) fail(operation, `database text in the answer: ${text.match(databaseText)?.[0]}`, example);
    type GraphQLErrors = { message?: string; extensions?: { code?: string } }[];
    let body: { errors?: GraphQLErrors } | null;
    try {
      const parsed = JSON.parse(text) as { errors?: GraphQLErrors; type?: string; payload?: GraphQLErrors } | null;
      // A graphql-ws error frame carries its errors as the payload.
      body = parsed?.type === 'error' && Array.isArray(parsed.payload) ? { errors: parsed.payload } : parsed;
    } catch {
      return;
    }
    const outcome = body?.errors?.[0]?.extensions?.code ?? (body?.errors ? 'no code' : body && typeof body === 'object' && 'data' in body ? 'data' : `HTTP ${status}`);
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    for (const error of body?.errors ?? []) {
      if (!error.extensions?.code) fail(operation, `an error without extensions.code: ${messageShape(error.message ?? '')}`, example);
      if (error.extensions?.code !== 'INTERNAL_SERVER_ERROR') continue;
      // What the server logged meanwhile (with requests in flight together, possibly another's error).
      const cause = logged.find((l) => l.at >= begun)?.error;
      if (replayable && !internalErrors.has(operation)) internalErrors.set(operation, { request: replayable, example, cause });
      else if (!replayable) fail(operation, `INTERNAL_SERVER_ERROR in ${operation}`, example);
    }
  }

  beforeAll(async () => {
    console.log(`GraphQL and HTTP fuzz seed ${seed} (replay with KEFU_FUZZ_SEED=${seed})`);
    t = await startTestKefu({ database: 'postgres', listen: true });
    // The answer says only "Internal server error"; the server's log says what it was.
    const log = t.kefu.app.log;
    const error = log.error.bind(log);
    log.error = ((obj: unknown, ...rest: unknown[]) => {
      const err = (obj as { err?: unknown })?.err ?? obj;
      logged.push({ at: performance.now(), error: err instanceof Error ? `${err.name}: ${err.message}` : String(rest[0] ?? shorten(obj, 200)) });
      return (error as (...args: unknown[]) => void)(obj, ...rest);
    }) as typeof log.error;
    url = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
    const seeded = await seedInstance(t, {
      agents: [
        { name: 'Ann', login: 'ann' },
        { name: 'Sue', login: 'sue', role: 'SUPERVISOR' },
        { name: 'Vic', login: 'vic' },
      ],
    });
    const group = await t.ok<{ createSkillGroup: { id: string } }>(seeded.adminKey, 'mutation { createSkillGroup(input: { name: "Sales", channel: PHONE }) { id } }');
    const chat = await t.ok<{ createSkillGroup: { id: string } }>(seeded.adminKey, 'mutation { createSkillGroup(input: { name: "Chat", channel: ONLINE }) { id } }');
    principals.push(
      { name: 'operator', token: operatorToken },
      { name: 'admin API key', token: seeded.adminKey },
      { name: 'agent', token: seeded.agents[0]!.token },
      { name: 'supervisor', token: seeded.agents[1]!.token },
      { name: 'anonymous', token: null },
    );
    // The agents' own ids stay out: a fuzzed deleteAgent would end the agent principal's session.
    known.ids.push(seeded.instanceId, seeded.agents[2]!.id, group.createSkillGroup.id, chat.createSkillGroup.id);
    known.logins.push('ann', 'vic', 'sue');
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it('answers random requests to the other HTTP routes (recordings, audio, chat uploads and files, widget, health, demo, exports, WeChat callback, metrics) without a 5xx, a stack trace or SQL', async () => {
    const random = new Random(seed ^ 0x5eed);
    const tokens = [...principals.map((p) => p.token), 'garbage', `${'x'.repeat(3000)}`, 'a.b.c'];
    const paths = [
      '/healthz',
      '/readyz',
      '/demo/agent',
      '/demo/agent/app.js',
      '/demo/shared/kefu-api.js',
      '/graphiql',
      '/graphql',
      '/audio',
      `/audio/${known.ids[2]}`,
      '/audio/not-a-uuid',
      '/audio/%00',
      '/audio/%ZZ',
      '/recordings/00000000-0000-4000-8000-000000000000',
      '/recordings/not-a-uuid',
      '/recordings/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '/recordings/%00',
      '/recordings/%',
      `/recordings/${'a'.repeat(5000)}`,
      '/recordings/00000000-0000-4000-8000-000000000000?access_token=%00',
      '/recordings/00000000-0000-4000-8000-000000000000?access_token=a&access_token=b',
      `/recordings/00000000-0000-4000-8000-000000000000?access_token=${'x'.repeat(5000)}`,
      // The chat's doors (issue 11): uploads, files with signed links, the widget and the demo customer page.
      '/chat/uploads',
      '/chat/uploads?contactId=%00',
      '/chat/files/00000000-0000-4000-8000-000000000000',
      '/chat/files/00000000-0000-4000-8000-000000000000/thumbnail',
      '/chat/files/00000000-0000-4000-8000-000000000000?i=00000000-0000-4000-8000-000000000000&exp=99999999999999999999&sig=AAAA',
      '/chat/files/00000000-0000-4000-8000-000000000000?i=%00&exp=-1&sig=',
      '/chat/files/not-a-uuid/thumbnail',
      `/chat/files/${'a'.repeat(5000)}`,
      '/widget.js',
      // Issue 14: the AV menu's icons (uploads for admins, served to anyone).
      '/av-icons',
      '/av-icons/00000000-0000-4000-8000-000000000000/00000000-0000-4000-8000-000000000000',
      '/av-icons/%2e%2e/%2e%2e%2fetc%2fpasswd',
      `/av-icons/${'a'.repeat(5000)}/x`,
      '/demo/customer?key=%3Cscript%3E',
      '/demo/customer/app.js',
      // Issue 15: the supervisor dashboard, its chart library, and the CSV exports with odd parameters.
      '/demo/supervisor',
      '/demo/supervisor/app.js',
      '/demo/vendor/uplot/uPlot.esm.js',
      '/exports/call-records.csv',
      '/exports/call-records.csv?from=%00&skillGroupId=x&rated=maybe&satisfaction=1e400',
      `/exports/call-records.csv?number=${'x'.repeat(5000)}`,
      '/exports/chat-records.csv?timeZone=..%2F..%2Fetc&endStatus=%00',
      '/exports/instance-report.csv?from=2026-01-01&to=2026-01-02&interval=DAY',
      '/exports/agent-report.csv?from=x&to=y&interval=HOUR&agentIds=,,,',
      '/exports/skill-group-report.csv?from=2026-01-01&to=2026-01-01&interval=TOTAL&skillGroupIds=a&skillGroupIds=b',
      '/exports/overview.csv?interval=MINUTES_15&access_token=%00',
      // Issue 13: WeChat's callback, with forged, broken and oversized signatures (no account, a random one, odd ids).
      '/wechat/callback/00000000-0000-4000-8000-000000000000/00000000-0000-4000-8000-000000000000?signature=x&timestamp=1&nonce=n&echostr=e',
      `/wechat/callback/${known.ids[0]}/${known.ids[1]}?signature=${'a'.repeat(40)}&timestamp=99999999999999999999&nonce=%00`,
      `/wechat/callback/${known.ids[0]}/x?msg_signature=${'a'.repeat(5000)}&encrypt_type=aes&timestamp=-1`,
      '/wechat/callback/%00/%ZZ',
      // Issue 16: metrics (off without its token here), GraphiQL's own script.
      '/metrics',
      '/graphiql/graphiql-page.js',
      '/no/such/route',
      '/%',
      '/graphql?query=%7B&variables=%7B',
      '/graphql?query={me{__typename}}&variables=[1]',
    ];
    const bodies = ['--x\r\nContent-Disposition: form-data; name="contactId"\r\n\r\n00000000-0000-4000-8000-000000000000\r\n--x\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n\u0089PNG\r\n--x--\r\n', '', '{}', '{"query":"{ me { __typename } }"}', '\u0000\u0001', '--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF', 'a=b&c', '<xml/>', '<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[%%%not-base64]]></Encrypt></xml>', '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><xml><Content>&b;&b;&b;</Content></xml>', '<xml><MsgType>text</MsgType><Content>\u0000</Content><MsgId>1e400</MsgId></xml>'];
    const contentTypes = ['application/json', 'multipart/form-data; boundary=x', 'multipart/form-data', 'application/x-www-form-urlencoded', 'text/plain', 'application/graphql', 'audio/wav', 'application/json; charset=latin1', 'text/xml'];
    const ranges = ['bytes=0-', 'bytes=-1', 'bytes=5-2', 'bytes=a-b', Array.from({ length: 100 }, (_, i) => `${i}-${i}`).join(','), 'items=0-1', 'bytes=99999999999999999999-'];
    const started = performance.now();
    let count = 0;
    let slowest = { ms: 0, request: '' };
    for (; count < 400 && performance.now() - started < 8000; count++) {
      const method = random.pick(['GET', 'GET', 'HEAD', 'POST', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);
      const path = random.pick(paths);
      const headers: Record<string, string> = {};
      const token = random.pick(tokens);
      if (random.chance(0.4)) headers.origin = random.pick(['https://shop.example', 'null', 'http://127.0.0.1:1', '\u00ff', 'x'.repeat(3000)]);
      if (token && random.chance(0.8)) headers.authorization = `Bearer ${token}`;
      if (random.chance(0.3)) headers.range = random.pick(ranges);
      const hasBody = method !== 'GET' && method !== 'HEAD' && random.chance(0.8);
      if (hasBody) headers['content-type'] = random.pick(contentTypes);
      const body = hasBody ? random.pick(bodies) : undefined;
      const begun = performance.now();
      const res = await fetch(`${url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
      const text = await res.text();
      if (performance.now() - begun > slowest.ms) slowest = { ms: performance.now() - begun, request: `${method} ${path.slice(0, 80)}` };
      // Kefu's own pages and scripts (the widget, the demo pages) are code: look only at their status, since
      // their text is JavaScript that a stack-trace pattern would match. Every error answer is still inspected.
      const servedCode = res.status < 400 && /^(?:text\/javascript|text\/html)/.test(res.headers.get('content-type') ?? '');
      inspect(`${method} ${path.slice(0, 60)}`, `${method} ${shorten(path, 200)} ${shorten(headers, 200)} ${shorten(body ?? '', 200)}`, res.status, servedCode ? '' : text);
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(`HTTP routes fuzz (seed ${seed}): ${count} requests in ${seconds.toFixed(1)} s (${(count / seconds).toFixed(0)}/s); slowest ${slowest.ms.toFixed(0)} ms (${slowest.request})`);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const report = [...failures.values()].map((f) => `- ${f.key} (${f.count}x; in ${[...f.operations].slice(0, 8).join(', ')})\n    e.g. ${f.example}`).join('\n');
    expect(failures.size, `seed ${seed}: distinct failures\n${report}`).toBe(0);
  }, 60_000);

  it('answers random and mutated documents for every operation without a 5xx, an internal error, a stack trace or SQL', async () => {
    outcomes.clear();
    const random = new Random(seed);
    const schema = buildSchema(readFileSync(schemaPath, 'utf8'));
    const generator = new DocumentGenerator(schema, random, known);
    const roots: { kind: 'query' | 'mutation'; field: GraphQLField<unknown, unknown> }[] = [
      ...Object.values(schema.getQueryType()!.getFields()).map((field) => ({ kind: 'query' as const, field })),
      ...Object.values(schema.getMutationType()!.getFields()).map((field) => ({ kind: 'mutation' as const, field })),
    ];
    const covered = new Set<string>();

    /** The next request: every root field in turn, by a random principal; some mutated, some malformed HTTP. */
    const nextRequest = (n: number): FuzzRequest => {
      const root = roots[n % roots.length]!;
      const principal = random.pick(principals);
      const { query, variables } = generator.operation(root.kind, root.field);
      const headers: Record<string, string> = { 'content-type': 'application/json', ...(principal.token ? { authorization: `Bearer ${principal.token}` } : {}) };
      const operation = `${root.kind} ${root.field.name}`;
      // The first round sends every operation well-shaped, however slow the machine.
      const roll = n < roots.length ? 1 : random.next();
      if (roll < 0.2) {
        const mutated = generator.mutate(query);
        return { operation, principal: principal.name, method: 'POST', headers, body: JSON.stringify({ query: mutated, variables }) };
      }
      if (roll < 0.25) {
        const body = random.pick([
          '{"query": 42}',
          '{"query": "{ me { __typename } }", "variables": "not an object"}',
          '{"query": "{ me { __typename } }", "variables": [1]}',
          `{"query": ${JSON.stringify(query)}, "operationName": "NoSuchOperation"}`,
          `{"query": ${JSON.stringify(query)}, "variables": ${JSON.stringify(variables)}, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "abc"}}}`,
          '[{"query": "{ me { __typename } }"}, {"query": "{ me { __typename } }"}]',
          JSON.stringify({ query }).slice(0, -3),
          '\u0000\u0001\u0002',
          'null',
          `{"query": "${'{'.repeat(3000)}"}`,
        ]);
        return { operation: `malformed request (${operation})`, principal: principal.name, method: 'POST', headers, body };
      }
      if (roll < 0.27) {
        const bad = { ...headers, authorization: random.pick(['Bearer', 'Bearer %00', 'bearer  two  spaces', `Bearer ${'x'.repeat(5000)}`, 'Basic YTpi', 'Bearer a.b.c', `Bearer ${principal.token ?? ''}x`]) };
        return { operation: `bad credential (${operation})`, principal: 'forged', method: 'POST', headers: bad, body: JSON.stringify({ query, variables }) };
      }
      if (roll < 0.3 && root.kind === 'query') {
        const search = new URLSearchParams({ query, variables: JSON.stringify(variables) });
        return { operation: `GET ${operation}`, principal: principal.name, method: 'GET', headers: { ...headers, 'content-type': '' }, url: `/graphql?${search.toString()}` };
      }
      covered.add(operation);
      return { operation, principal: principal.name, method: 'POST', headers, body: JSON.stringify({ query, variables }) };
    };

    const started = performance.now();
    let sent = 0;
    let slowest = { ms: 0, operation: '' };
    const send = async (request: FuzzRequest) => {
      const res = await fetch(`${url}${request.url ?? '/graphql'}`, {
        method: request.method,
        headers: Object.fromEntries(Object.entries(request.headers).filter(([, v]) => v !== '')),
        ...(request.body !== undefined ? { body: request.body } : {}),
      });
      return { status: res.status, text: await res.text() };
    };
    const describeRequest = (request: FuzzRequest) => `as ${request.principal}: ${request.method} ${request.url ? shorten(request.url, 300) : ''}${request.body !== undefined ? shorten(request.body, 700) : ''}`;
    const runner = async () => {
      while (sent < roots.length || (sent < maxDocuments && performance.now() - started < budgetMs)) {
        const request = nextRequest(sent++);
        const begun = performance.now();
        const { status, text } = await send(request);
        const ms = performance.now() - begun;
        if (ms > slowest.ms) slowest = { ms, operation: request.operation };
        inspect(request.operation, describeRequest(request), status, text, request, begun);
      }
    };
    await Promise.all(Array.from({ length: inFlight }, runner));
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `GraphQL fuzz: ${sent} documents over HTTP in ${seconds.toFixed(1)} s (${(sent / seconds).toFixed(0)}/s), ` +
        `${covered.size} of ${roots.length} operations sent well-shaped; slowest answer ${slowest.ms.toFixed(0)} ms (${slowest.operation}); ` +
        `answers: ${[...outcomes].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`,
    );
    expect(covered.size).toBe(roots.length);

    // Each operation that answered INTERNAL_SERVER_ERROR once more, alone, to group them by the server's error.
    for (const [operation, { request, example, cause: loggedThen }] of internalErrors) {
      const replayedAt = performance.now();
      const { text } = await send(request);
      const again = logged.find((l) => l.at >= replayedAt)?.error;
      const cause = again ?? loggedThen ?? (text.includes('INTERNAL_SERVER_ERROR') ? 'nothing logged' : 'not logged, and not again when replayed alone');
      fail(operation, `INTERNAL_SERVER_ERROR: ${messageShape(cause)}`, `${example}\n      server logged: ${shorten(cause, 300)}`);
    }

    // Subscriptions through a real graphql-ws client, by each principal.
    const subscriptionFields = Object.values(schema.getSubscriptionType()!.getFields());
    const clients = principals.filter((p) => p.token).map((p) => ({ principal: p.name, client: wsClient(url, p.token) }));
    for (let i = 0; i < subscriptionDocuments; i++) {
      const field = subscriptionFields[i % subscriptionFields.length]!;
      const { client, principal } = random.pick(clients);
      const generated = generator.operation('subscription', field);
      const query = random.chance(0.2) ? generator.mutate(generated.query) : generated.query;
      const answers: unknown[] = [];
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          dispose();
          resolve();
        }, 250);
        const dispose = client.subscribe(
          { query, variables: generated.variables },
          {
            next: (v) => answers.push(v),
            error: (e) => {
              answers.push(e);
              clearTimeout(timer);
              resolve();
            },
            complete: () => {
              clearTimeout(timer);
              resolve();
            },
          },
        );
      });
      // The client reports a refused subscription as the list of its errors, an event with errors as a result.
      const errors = answers.flatMap((a) => (Array.isArray(a) ? a : ((a as { errors?: unknown[] }).errors ?? (a instanceof Error ? [a] : []))));
      const text = JSON.stringify({ errors, answers }, (_, v: unknown) => (v instanceof Error ? { message: v.message, stack: v.stack } : v));
      inspect(`subscription ${field.name}`, `as ${principal} over graphql-ws: ${shorten({ query, variables: generated.variables }, 700)}`, 200, text);
    }
    await Promise.all(clients.map((c) => c.client.dispose()));

    // Raw frames a graphql-ws client would never send.
    const frames = [
      'not json',
      '{"type":"subscribe","id":"1","payload":{"query":{"kind":"Document","definitions":[{"kind":"OperationDefinition"}]}}}',
      '{"type":"subscribe","id":"2","payload":{"query":42}}',
      '{"type":"subscribe","id":"3","payload":null}',
      '{"type":"subscribe","id":"4","payload":{"query":"subscription { agentStatusChanged { presence } }","variables":"x"}}',
      `{"type":"subscribe","id":"5","payload":{"query":"subscription ${'{ agentStatusChanged '.repeat(2000)}"}}`,
      '{"type":"subscribe","id":"6","payload":{"query":"query { me { __typename } }"}}',
      '{"type":"no such type","id":"7"}',
      '{"type":"complete","id":"nothing running"}',
    ];
    const raw = await new Promise<string[]>((resolve, reject) => {
      const socket = new WebSocket(`${url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
      const received: string[] = [];
      socket.on('message', (data: Buffer) => {
        received.push(data.toString());
        if (received.length > 1 || !data.toString().includes('connection_ack')) return;
        for (const frame of frames) socket.send(frame);
        setTimeout(() => {
          socket.close();
          resolve(received);
        }, 1500);
      });
      socket.on('error', reject);
      socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${principals[1]!.token}` } })));
      socket.on('close', () => resolve(received));
    });
    expect(raw[0]).toContain('connection_ack');
    expect(raw.length).toBeGreaterThan(frames.length - 2);
    for (const message of raw) inspect('raw graphql-ws frame', `raw graphql-ws frames ${shorten(frames, 300)}`, 200, message);

    // Still healthy, and still answering. Every event the fuzzing stored is in the read models, and none
    // parked a projection: a value the edge accepted is one the read models can hold.
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const head = await t.kefu.store.headPosition();
    const caughtUp = head ? await t.kefu.projections.waitFor(head, { timeoutMs: 60_000 }).catch(() => false) : true;
    if (!caughtUp) fail('read models', 'the read models did not reach the last event within 60 s', `head ${String(head?.commit)}`);
    const ready = await fetch(`${url}/readyz`);
    const readiness = (await ready.json()) as { status: string; parked?: unknown[] };
    expect(ready.status).toBe(200);
    if (readiness.status !== 'ready') fail('read models', `a projection part parked: ${shorten(readiness.parked, 300)}`, shorten(readiness, 600));
    const me = await t.gql<{ me: { __typename: string } }>(principals[1]!.token, '{ me { __typename } }');
    expect(me.data?.me.__typename).toBe('ApiKeyPrincipal');

    const report = [...failures.values()]
      .sort((a, b) => b.count - a.count)
      .map((f) => `- ${f.key} (${f.count}x; in ${[...f.operations].slice(0, 8).join(', ')}${f.operations.size > 8 ? ', …' : ''})\n    e.g. ${f.example}`)
      .join('\n');
    if (failures.size > 0) console.log(`GraphQL fuzz seed ${seed}: ${failures.size} distinct failures\n${report}`);
    expect(failures.size, `seed ${seed}: distinct failures\n${report}`).toBe(0);
  }, 120_000);
});
