// Quick-reply search benchmark (issue 12): 50,000 replies in one instance on PostgreSQL, an agent searching
// as they type. Kefu runs in a child process (bench/quick-replies/server-child.ts) on a fresh database
// (`kefu_bench_quick_replies`); this process is the client.
//
// Seeding goes through the public API, the way an admin fills Kefu: categories (INSTANCE, SKILL_GROUPS and
// AGENTS scopes) created over GraphQL, then importQuickReplies with CSV files of 1,000 rows (each import one
// event, projected like any other), and personal replies of the searching agent imported the same way.
// Texts are made of real English words drawn with a Zipf law, some replies in Chinese.
//
// Measured: searches as typed, every prefix (1 to n characters) of words drawn from the same law, and
// shortcut prefixes ("/re"), each sent as `quickReplies(search, first: 20)` over GraphQL HTTP (keep-alive)
// by an agent who sees 80% of the shared replies. Peer in the same run: the same searches as bare SQL
// through pg (the statements Kefu runs, with the visible categories known in advance: no HTTP, GraphQL,
// auth or visibility lookup), so the ratio shows what the API adds on top of the database.
import pg from 'pg';
import { queryWords, shortcutKey } from '../src/domain/quick-reply/quick-reply-values.ts';
import { envInt, envList } from './lib/config.ts';
import type { BenchModule } from './lib/module.ts';
import { startServerChild, stopServerChild, type ServerChild } from './lib/server-child.ts';
import { dropDatabase, recreateDatabase } from './lib/pg-admin.ts';
import type { ResultRow } from './lib/report.ts';
import { median, percentile } from './lib/stats.ts';

const database = 'kefu_bench_quick_replies';
const operatorToken = 'bench-operator-token-0123456789';
const targetP99Ms = 20;

function settings() {
  return {
    replies: Math.max(10, envInt('BENCH_QR_REPLIES', 50_000)),
    categories: Math.max(2, envInt('BENCH_QR_CATEGORIES', 10)),
    personal: Math.max(0, envInt('BENCH_QR_PERSONAL', 200)),
    searches: Math.max(10, envInt('BENCH_QR_SEARCHES', 2_000)),
    clients: (envList('BENCH_QR_CLIENTS') ?? ['1', '8']).map((c) => Math.max(1, Number.parseInt(c, 10) || 1)),
    rounds: Math.max(1, envInt('BENCH_QR_ROUNDS', 3)),
    first: 20,
  };
}

// ---------------------------------------------------------------------------------------------------
// Texts

const vocabulary = (
  'the you your we our order refund please thank thanks help account payment card delivery package shipping ' +
  'address return exchange product service support team today tomorrow hours days week working business ' +
  'process request update status check confirm cancel cancellation invoice receipt price discount coupon ' +
  'code password reset login email phone number contact customer agent manager supervisor transfer wait ' +
  'moment sorry apologize inconvenience understand problem issue error technical website app mobile ' +
  'install version download upload file photo image screenshot send receive message reply answer question ' +
  'information details name verify identity security privacy policy terms warranty repair replace damaged ' +
  'missing wrong size color stock available unavailable restock notify subscription plan upgrade downgrade ' +
  'renew expire expired trial free premium bill billing charge charged twice credit debit bank transfer ' +
  'wallet balance points reward member membership store location open closed holiday schedule appointment ' +
  'booking reservation change date time confirmation number tracking courier pickup collect warehouse ' +
  'international domestic customs duty tax fee express standard estimated arrival delayed lost found ' +
  'goodbye hello welcome morning afternoon evening regards best wishes happy assist further anything else'
).split(/\s+/);
const chinese = ['您好', '欢迎光临', '退款流程', '订单查询', '物流信息', '请稍等', '感谢您的耐心', '工作日', '发票', '会员积分', '售后服务', '退换货政策'];

function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Word i drawn with probability ∝ 1/(i+1): a few words everywhere, most rare, as in real text. */
function zipf(random: () => number, n: number) {
  const weights = Array.from({ length: n }, (_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const cumulative: number[] = [];
  let acc = 0;
  for (const w of weights) cumulative.push((acc += w / total));
  return () => {
    const r = random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < r) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

function textMaker(seed: number) {
  const random = mulberry32(seed);
  const pick = zipf(random, vocabulary.length);
  const words = (n: number) => Array.from({ length: n }, () => vocabulary[pick()]!).join(' ');
  return {
    random,
    word: () => vocabulary[pick()]!,
    title: () => {
      const t = words(2 + Math.floor(random() * 4));
      return t[0]!.toUpperCase() + t.slice(1);
    },
    content: () => {
      if (random() < 0.1) return `${chinese[Math.floor(random() * chinese.length)]}，${chinese[Math.floor(random() * chinese.length)]}。${words(5)}`;
      return `${words(12 + Math.floor(random() * 25))}.`;
    },
  };
}

const csvCell = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

// ---------------------------------------------------------------------------------------------------
// Server and client

type Server = ServerChild;

const startServer = (databaseUrl: string): Promise<Server> => startServerChild(new URL('./quick-replies/server-child.ts', import.meta.url), { DATABASE_URL: databaseUrl, KEFU_OPERATOR_TOKEN: operatorToken });
const stopServer = stopServerChild;

async function gql<T>(port: number, token: string | null, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: unknown[] };
  if (body.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors).slice(0, 500)}`);
  return body.data as T;
}

interface Seeded {
  instanceId: string;
  agentId: string;
  agentToken: string;
  visibleCategoryIds: string[];
  seedSeconds: number;
}

async function seed(port: number, s: ReturnType<typeof settings>, log: (m: string) => void): Promise<Seeded> {
  const started = performance.now();
  const inst = await gql<{ createInstance: { instance: { id: string }; adminApiKey: string } }>(port, operatorToken, 'mutation { createInstance(input: { name: "Bench" }) { instance { id } adminApiKey } }');
  const instanceId = inst.createInstance.instance.id;
  const admin = inst.createInstance.adminApiKey;
  await gql(port, operatorToken, 'mutation($id: ID!) { purchaseSeats(input: { instanceId: $id, seats: 5 }) { seats } }', { id: instanceId });
  const agent = await gql<{ createAgent: { id: string } }>(port, admin, 'mutation { createAgent(input: { name: "Ann", login: "ann", password: "password-123", role: AGENT }) { id } }');
  const other = await gql<{ createAgent: { id: string } }>(port, admin, 'mutation { createAgent(input: { name: "Bob", login: "bob", password: "password-123", role: AGENT }) { id } }');
  const login = await gql<{ loginAgent: { token: string } }>(port, null, 'mutation($i: ID!) { loginAgent(input: { instanceId: $i, login: "ann", password: "password-123" }) { token } }', { i: instanceId });
  const groupA = await gql<{ createSkillGroup: { id: string } }>(port, admin, 'mutation { createSkillGroup(input: { name: "Chat A", channel: ONLINE }) { id } }');
  const groupB = await gql<{ createSkillGroup: { id: string } }>(port, admin, 'mutation { createSkillGroup(input: { name: "Chat B", channel: ONLINE }) { id } }');
  await gql(port, admin, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: groupA.createSkillGroup.id, a: agent.createAgent.id });

  // Scopes: most categories for everyone; one for Ann's group and one for Bob's; one naming Ann, one Bob.
  const visible: string[] = [];
  const categories: string[] = [];
  for (let c = 0; c < s.categories; c++) {
    const scope =
      c === 1
        ? { kind: 'SKILL_GROUPS', skillGroupIds: [groupA.createSkillGroup.id] }
        : c === 2
          ? { kind: 'SKILL_GROUPS', skillGroupIds: [groupB.createSkillGroup.id] }
          : c === 3
            ? { kind: 'AGENTS', agentIds: [agent.createAgent.id] }
            : c === 4
              ? { kind: 'AGENTS', agentIds: [other.createAgent.id] }
              : { kind: 'INSTANCE' };
    const r = await gql<{ createQuickReplyCategory: { id: string } }>(port, admin, 'mutation($input: CreateQuickReplyCategoryInput!) { createQuickReplyCategory(input: $input) { id } }', {
      input: { name: `Category ${c + 1}`, scope },
    });
    categories.push(r.createQuickReplyCategory.id);
    if (c !== 2 && c !== 4) visible.push(r.createQuickReplyCategory.id);
  }
  const text = textMaker(12);
  const perCategory = Math.ceil(s.replies / s.categories);
  let made = 0;
  const importRows = async (token: string, categoryId: string | null, n: number, prefix: string) => {
    for (let done = 0; done < n; done += 1000) {
      const rows = ['title,shortcut,content'];
      for (let i = done; i < Math.min(n, done + 1000); i++) rows.push([text.title(), `${text.word().slice(0, 6)}${prefix}${i}`, text.content()].map(csvCell).join(','));
      const r = await gql<{ importQuickReplies: { imported: number } }>(port, token, 'mutation($input: ImportQuickRepliesInput!) { importQuickReplies(input: $input) { imported } }', {
        input: { categoryId, csv: rows.join('\r\n') },
      });
      made += r.importQuickReplies.imported;
    }
  };
  for (let c = 0; c < s.categories; c++) {
    const n = Math.min(perCategory, s.replies - c * perCategory);
    if (n > 0) await importRows(admin, categories[c]!, n, `c${c}`);
    log(`seeded ${made.toLocaleString('en-US')} replies`);
  }
  if (s.personal > 0) await importRows(login.loginAgent.token, null, s.personal, 'my');
  return { instanceId, agentId: agent.createAgent.id, agentToken: login.loginAgent.token, visibleCategoryIds: visible, seedSeconds: (performance.now() - started) / 1000 };
}

/** What the agent types: each prefix of a word (1..n characters), and some shortcut prefixes. */
function typedSearches(n: number): string[] {
  const text = textMaker(99);
  const out: string[] = [];
  while (out.length < n) {
    if (text.random() < 0.2) {
      const w = `${text.word().slice(0, 4)}c${Math.floor(text.random() * 10)}`;
      for (let i = 1; i <= w.length && out.length < n; i++) out.push(`/${w.slice(0, i)}`);
    } else {
      const w = text.random() < 0.05 ? chinese[Math.floor(text.random() * chinese.length)]! : text.word();
      for (let i = 1; i <= [...w].length && out.length < n; i++) out.push([...w].slice(0, i).join(''));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The peer: the same statements over pg

const likePrefix = (s: string) => `${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

async function bareSearch(client: pg.Client, seeded: Seeded, search: string, first: number): Promise<number> {
  const trimmed = search.trim();
  const key = /^[\p{L}\p{N}_\-./]+$/u.test(trimmed) ? shortcutKey(trimmed) : '';
  const words = queryWords(trimmed);
  const tsquery = words.map((w) => `'${w}':*`).join(' & ');
  const base = 'SELECT id, category_id, agent_id, title, shortcut, content, image_url, position, sort_key FROM quick_replies WHERE instance_id = $1 AND (category_id = ANY($2::text[]) OR (category_id IS NULL AND agent_id = $3))';
  let found = 0;
  if (key !== '') {
    const r = await client.query({ name: 'qr-shortcut', text: `${base} AND shortcut_key LIKE $4 ORDER BY sort_key, id LIMIT $5`, values: [seeded.instanceId, seeded.visibleCategoryIds, seeded.agentId, likePrefix(key), first + 1] });
    found += r.rowCount ?? 0;
  }
  if (found <= first && tsquery !== '') {
    const r = await client.query({
      name: 'qr-words',
      text: `${base} AND search_tokens @@ $4::tsquery AND shortcut_key NOT LIKE $5 ORDER BY sort_key, id LIMIT $6`,
      values: [seeded.instanceId, seeded.visibleCategoryIds, seeded.agentId, tsquery, key === '' ? '\u0000never' : likePrefix(key), first + 1 - found],
    });
    found += r.rowCount ?? 0;
  }
  return found;
}

// ---------------------------------------------------------------------------------------------------
// Measuring

interface Run {
  latencies: number[];
  ms: number;
}

async function measure(searches: string[], clients: number, one: (client: number, search: string) => Promise<unknown>): Promise<Run> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (;;) {
        const i = next++;
        if (i >= searches.length) return;
        const t0 = performance.now();
        await one(c, searches[i]!);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { latencies, ms: performance.now() - started };
}

const notes: string[] = [];

export const quickRepliesBench: BenchModule = {
  name: 'quick-replies',
  title: 'Quick-reply search as you type',
  describe() {
    const s = settings();
    return [
      `Kefu (\`startKefu\`, LOG_LEVEL=silent) in a child process on a fresh PostgreSQL database (\`${database}\`). Seeded through the public API:`,
      `${s.categories} shared categories (scopes: ${s.categories - 4} INSTANCE, 2 SKILL_GROUPS, 2 AGENTS) holding ${s.replies.toLocaleString('en-US')} replies, imported with \`importQuickReplies\` (CSV, 1,000 rows per import, one event each),`,
      `plus ${s.personal} personal replies of the searching agent. Texts: English words drawn with a Zipf law (12-36 words per reply, 10% with Chinese phrases).`,
      `The agent sees ${s.categories - 2} of the ${s.categories} categories. Searches: ${s.searches.toLocaleString('en-US')} as typed, every prefix (1..n characters) of words drawn from the same law (5% Chinese), 20% shortcut prefixes (\`/refuc3\`: shortcuts are a word's first letters, the category and a number),`,
      `each \`quickReplies(search, first: ${s.first}) { edges { node { id title shortcut content imageUrl } } }\` over HTTP with keep-alive, by ${s.clients.join(' and ')} concurrent client(s) (one connection each), ${s.rounds} round(s).`,
      `Peer: the same searches as the bare SQL Kefu runs (prepared statements over one pg connection per client, the visible categories known in advance). Also \`kefu-api-floor-me\`: \`{ me { __typename } }\` by the same agent over the same HTTP path, what any authenticated GraphQL request costs before a resolver does anything. "events" = searches; latency per search; target p99 < ${targetP99Ms} ms.`,
    ].join(' ');
  },
  comparison: { numerator: 'kefu-graphql-http', denominator: 'bare-sql-pg', title: 'Kefu / bare SQL (searches/s)' },
  async run(): Promise<ResultRow[]> {
    const s = settings();
    notes.length = 0;
    const log = (m: string) => console.log(`  ${m}`);
    const url = await recreateDatabase(database);
    const server = await startServer(url);
    const rows: ResultRow[] = [];
    try {
      const seeded = await seed(server.port, s, log);
      log(`seeded in ${seeded.seedSeconds.toFixed(1)} s`);
      const searches = typedSearches(s.searches);
      const meQuery = '{ me { __typename } }';
      const query = `query($s: String, $first: Int) { quickReplies(search: $s, first: $first) { edges { node { id title shortcut content imageUrl } } } }`;
      const sql = await Promise.all(
        Array.from({ length: Math.max(...s.clients) }, async () => {
          const c = new pg.Client({ connectionString: url });
          await c.connect();
          return c;
        }),
      );
      try {
        await sql[0]!.query('ANALYZE quick_replies');
        // Warm up both paths (plans, caches, connections).
        const warm = searches.slice(0, 200);
        await measure(warm, 1, (_, q) => gql(server.port, seeded.agentToken, query, { s: q, first: s.first }));
        await measure(warm, 1, (c, q) => bareSearch(sql[c]!, seeded, q, s.first));
        let hits = 0;
        for (const q of searches.slice(0, 200)) hits += (await gql<{ quickReplies: { edges: unknown[] } }>(server.port, seeded.agentToken, query, { s: q, first: s.first })).quickReplies.edges.length;
        notes.push(`Check: the first 200 searches returned ${hits} replies in all (${(hits / 200).toFixed(1)} per search; a page holds ${s.first}).`);
        for (const clients of s.clients) {
          const kefu: Run[] = [];
          const bare: Run[] = [];
          const floor: Run[] = [];
          for (let round = 0; round < s.rounds; round++) {
            kefu.push(await measure(searches, clients, (_, q) => gql(server.port, seeded.agentToken, query, { s: q, first: s.first })));
            bare.push(await measure(searches, clients, (c, q) => bareSearch(sql[c]!, seeded, q, s.first)));
            // The API's own floor: the same agent's `me` over the same HTTP path (auth, GraphQL, no search).
            floor.push(await measure(searches, clients, () => gql(server.port, seeded.agentToken, meQuery)));
          }
          for (const [target, runs] of [
            ['kefu-graphql-http', kefu],
            ['bare-sql-pg', bare],
            ['kefu-api-floor-me', floor],
          ] as const) {
            const all = runs.flatMap((r) => r.latencies);
            const perRound = runs.map((r) => (r.latencies.length / r.ms) * 1000);
            const row: ResultRow = {
              measurement: `search-${clients}`,
              label: `${clients} client${clients === 1 ? '' : 's'} typing: ${s.replies.toLocaleString('en-US')} replies, page of ${s.first}`,
              target,
              events: searches.length,
              ms: median(runs.map((r) => r.ms)),
              eventsPerSec: median(perRound),
              p50Ms: percentile(all, 50),
              p99Ms: percentile(all, 99),
              perRound,
            };
            rows.push(row);
            log(`${target} ${clients} client(s): p50 ${row.p50Ms.toFixed(2)} ms, p99 ${row.p99Ms.toFixed(2)} ms, ${row.eventsPerSec.toFixed(0)} searches/s`);
          }
          const k = rows.find((r) => r.measurement === `search-${clients}` && r.target === 'kefu-graphql-http')!;
          notes.push(`${clients} client(s): Kefu p99 ${k.p99Ms.toFixed(1)} ms, ${k.p99Ms < targetP99Ms ? 'under' : 'OVER'} the ${targetP99Ms} ms target.`);
        }
        // Where the slow ones are: the ten slowest searches of one more single-client pass.
        const slow: { q: string; ms: number }[] = [];
        for (const q of searches) {
          const t0 = performance.now();
          await gql(server.port, seeded.agentToken, query, { s: q, first: s.first });
          slow.push({ q, ms: performance.now() - t0 });
        }
        slow.sort((a, b) => b.ms - a.ms);
        notes.push(`Slowest searches (1 client): ${slow.slice(0, 8).map((x) => `"${x.q}" ${x.ms.toFixed(1)} ms`).join(', ')}.`);
      } finally {
        await Promise.all(sql.map((c) => c.end()));
      }
    } finally {
      await stopServer(server);
      // BENCH_QR_KEEP_DATABASE=1 keeps it, to look at plans afterwards.
      if (process.env.BENCH_QR_KEEP_DATABASE !== '1') await dropDatabase(database);
    }
    return rows;
  },
  notes() {
    return notes.join('\n');
  },
};
