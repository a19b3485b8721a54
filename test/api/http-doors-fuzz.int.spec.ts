// The GET doors beside GraphQL (CSV exports of records and reports, chat files, recordings, prompt audio, AV
// icons, the widget script, GraphQL over GET) fed odd query strings and paths: dates past the year 9999 or
// before 0001, impossible days, NUL and broken percent-escapes, 20 000-character values, repeated and
// prototype-named parameters, paths that climb. Every answer is a 2xx/3xx or a 4xx, and a 4xx from an API
// route carries a JSON error code; never a 5xx. Then seeded random query strings (KEFU_FUZZ_SEED replays).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { fuzzSeed, seededRandom } from '../support/seeded-random.ts';
import { answerOf } from '../support/inject.ts';

const seed = fuzzSeed();

/** Raw query values (already percent-encoded where they should be). */
const oddValues = [
  '10000-01-01',
  '+010000-01-01T00:00:00Z',
  '10000-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999Z',
  '-000001-01-01T00:00:00Z',
  '0000-01-01',
  '0000-00-00T00:00:00Z',
  '2026-02-30',
  '2026-13-01',
  '2026-12-04T25:61:61Z',
  '1970-01-01T00:00:00+99:99',
  '%00',
  'a%00b',
  '%ZZ',
  '%',
  '%E0%A4%A',
  '%ED%A0%80',
  '%F0%9F%98%80',
  '%FF%FE',
  `${'x'.repeat(20_000)}`,
  '-1',
  '1e309',
  '9007199254740993',
  'NaN',
  '',
  '%20',
  '__proto__',
  '../../etc/passwd',
  '%2e%2e%2f%2e%2e%2f',
  '[]',
  '{"$gt":""}',
];

const oddNames = ['__proto__', 'constructor', 'prototype', 'from[]', 'from[gt]', 'toString', '%00', 'a%00b', '%ZZ', 'x'.repeat(5000)];

describe(`the GET doors, fuzzed (seed ${seed}; KEFU_FUZZ_SEED=${seed} replays)`, () => {
  let t: TestKefu;
  let adminKey: string;
  let instanceId: string;

  beforeAll(async () => {
    t = await startTestKefu({ database: 'postgres' });
    const inst = await seedInstance(t, { name: 'Doors' });
    adminKey = inst.adminKey;
    instanceId = inst.instanceId;
  }, 240_000);
  afterAll(async () => {
    await t?.close();
  });

  /** The URLs to try with `v` in a query value or a path segment. */
  function urls(v: string): string[] {
    const report = (name: string, from = '2026-12-01', to = '2026-12-04') => `/exports/${name}.csv?from=${from}&to=${to}&interval=DAY`;
    return [
      `/exports/call-records.csv?from=${v}`,
      `/exports/call-records.csv?to=${v}&timeZone=Asia/Shanghai`,
      `/exports/chat-records.csv?from=${v}&to=${v}`,
      `/exports/chat-records.csv?timeZone=${v}`,
      `/exports/chat-records.csv?agentIds=${v}`,
      report('instance-report', v),
      report('skill-group-report', '2026-12-01', v),
      `${report('agent-report')}&timeZone=${v}`,
      `/exports/instance-report.csv?from=2026-12-01&to=2026-12-04&interval=${v}`,
      `/exports/overview.csv?interval=${v}`,
      `/exports/call-records.csv?access_token=${v}`,
      `/chat/files/${v}`,
      `/chat/files/${v}/thumbnail?expires=${v}&signature=${v}`,
      `/recordings/${v}`,
      `/recordings/00000000-0000-4000-8000-000000000000?access_token=${v}`,
      `/audio/${v}`,
      `/av-icons/${v}/${v}`,
      `/av-icons/${instanceId}/${v}`,
      `/widget.js?${v}`,
      `/graphql?query=${v}`,
      `/graphql?query=%7B__typename%7D&variables=${v}`,
      `/graphql?query=%7B__typename%7D&operationName=${v}`,
    ];
  }

  async function get(url: string, headers: Record<string, string> = {}) {
    const res = await t.kefu.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${adminKey}`, ...headers } });
    return answerOf(res);
  }

  /** What is wrong with an answer to `url`, or null: a 5xx, or an API route's 4xx without a JSON error code (GraphQL's: errors[].extensions.code). */
  function unclear(url: string, r: Awaited<ReturnType<typeof get>>): string | null {
    const what = `${url.slice(0, 200)}: ${r.status} ${r.text.slice(0, 300)}`;
    if (r.status >= 500) return what;
    if (r.status < 400) return null;
    if (url.startsWith('/graphql')) {
      const errors = r.json?.errors as { extensions?: { code?: unknown } }[] | undefined;
      return errors?.length && errors.every((e) => typeof e.extensions?.code === 'string') ? null : what;
    }
    return /^[A-Z_]+$/.test(String((r.json?.error as { code?: unknown } | undefined)?.code)) ? null : what;
  }

  it('answers odd values in every query parameter and path segment clearly', async () => {
    const problems: string[] = [];
    for (const v of oddValues) {
      for (const url of urls(v)) {
        const problem = unclear(url, await get(url));
        if (problem) problems.push(problem);
      }
    }
    expect(problems).toEqual([]);
  }, 300_000);

  it('answers odd, repeated and prototype-named parameters clearly', async () => {
    const problems: string[] = [];
    const bases = ['/exports/call-records.csv', '/exports/chat-records.csv', '/exports/instance-report.csv', '/exports/overview.csv', '/recordings/00000000-0000-4000-8000-000000000000', '/widget.js', '/graphql'];
    for (const base of bases) {
      for (const name of oddNames) {
        for (const url of [`${base}?${name}=1`, `${base}?${name}=1&${name}=2`, `${base}?from=2026-12-01&from=2026-12-02&to=2026-12-04&interval=DAY`, `${base}?${name}`]) {
          const problem = unclear(url, await get(url));
          if (problem) problems.push(problem);
        }
      }
    }
    // Odd request headers on the same doors.
    for (const base of bases) {
      const oddHeaders: Record<string, string>[] = [{ 'if-none-match': 'x'.repeat(8000) }, { authorization: `Bearer ${'t'.repeat(10_000)}` }, { authorization: 'Bearer \u00ff\u00fe' }, { authorization: 'Basic Zm9vOmJhcg==' }, { range: 'bytes=-1--2,999999999999999999-' }];
      for (const headers of oddHeaders) {
        const problem = unclear(base, await get(base, headers));
        if (problem) problems.push(`${problem} (headers ${Object.keys(headers).join(', ')})`);
      }
    }
    expect(problems).toEqual([]);
  }, 300_000);

  it('answers seeded random query strings clearly', async () => {
    const random = seededRandom(seed);
    const pick = <T,>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
    const names = ['from', 'to', 'interval', 'timeZone', 'agentIds', 'skillGroupIds', 'channel', 'status', 'access_token', 'first', 'query', 'variables', ...oddNames];
    const bases = ['/exports/call-records.csv', '/exports/chat-records.csv', '/exports/instance-report.csv', '/exports/skill-group-report.csv', '/exports/agent-report.csv', '/exports/overview.csv', '/graphql'];
    const problems: string[] = [];
    for (let i = 0; i < 400; i++) {
      const n = 1 + Math.floor(random() * 5);
      const query = Array.from({ length: n }, () => `${pick(names)}=${pick(oddValues).slice(0, 1 + Math.floor(random() * 40))}`).join('&');
      const url = `${pick(bases)}?${query}`;
      const problem = unclear(url, await get(url));
      if (problem) problems.push(problem);
    }
    expect(problems).toEqual([]);
    expect((await get('/healthz')).status).toBe(200);
  }, 300_000);
});
