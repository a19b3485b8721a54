// Starts a whole Kefu in this process for API tests: embedded PGlite in a temp dir, or a fresh schema
// on the PostgreSQL test server; in-process bus or NATS.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { Tracer } from '@opentelemetry/api';
import { loadConfig } from '../../src/config.ts';
import { startKefu, type Kefu } from '../../src/main.ts';
import { freshPostgresSchema, natsUrl } from './services.ts';
import { copyPgliteTemplate } from './pglite-template.ts';

export const operatorToken = 'test-operator-token-0123456789';

export interface TestKefu {
  kefu: Kefu;
  /** Runs a GraphQL operation through fastify inject. */
  gql<T = Record<string, unknown>>(token: string | null, query: string, variables?: Record<string, unknown>): Promise<GqlResult<T>>;
  /** Runs it and fails on any error. */
  ok<T = Record<string, unknown>>(token: string | null, query: string, variables?: Record<string, unknown>): Promise<T>;
  close(): Promise<void>;
  databaseUrl: string | null;
  /** Where this Kefu reads call recordings: `<KEFU_DATA_DIR>/recordings` (a temp dir). */
  recordingsDir: string;
}

export interface GqlResult<T> {
  status: number;
  data: T | null;
  errors?: { message: string; extensions?: { code?: string; field?: string } }[];
}

export async function startTestKefu(options: { database?: 'pglite' | 'postgres'; nats?: boolean; listen?: boolean; env?: Record<string, string>; tracer?: Tracer; clock?: () => Date } = {}): Promise<TestKefu> {
  // SIP stays off unless a test turns it on with its own port: parallel suites would fight over 5060.
  const env: Record<string, string> = { KEFU_OPERATOR_TOKEN: operatorToken, LOG_LEVEL: 'silent', PORT: '0', KEFU_SIP: 'off', ...options.env };
  let cleanup: () => Promise<void>;
  let databaseUrl: string | null = null;
  if (options.database === 'postgres') {
    const schema = await freshPostgresSchema();
    await schema.client.close();
    env.DATABASE_URL = schema.url;
    databaseUrl = schema.url;
    // Files (recordings, uploads) still go to a temp dir, never to ./data.
    const files = mkdtempSync(path.join(tmpdir(), 'kefu-test-files-'));
    env.KEFU_DATA_DIR ??= files;
    cleanup = async () => {
      await schema.drop();
      rmSync(files, { recursive: true, force: true });
    };
  } else {
    const dir = mkdtempSync(path.join(tmpdir(), 'kefu-test-'));
    env.KEFU_DATA_DIR = dir;
    // A copy of the run's migrated PGlite database instead of a new one (see pglite-template.ts).
    if (!env.DATABASE_URL) await copyPgliteTemplate(dir);
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  }
  if (options.nats) env.NATS_URL = natsUrl;
  const kefu = await startKefu(loadConfig(env), { logger: pino({ level: 'silent' }), listen: options.listen ?? false, ...(options.tracer ? { tracer: options.tracer } : {}), ...(options.clock ? { clock: options.clock } : {}) });
  const gql = async <T,>(token: string | null, query: string, variables?: Record<string, unknown>): Promise<GqlResult<T>> => {
    const res = await kefu.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      payload: JSON.stringify({ query, variables }),
    });
    const body = res.json() as Omit<GqlResult<T>, 'status'>;
    return { status: res.statusCode, ...body };
  };
  return {
    kefu,
    databaseUrl,
    recordingsDir: path.resolve(kefu.config.KEFU_DATA_DIR, 'recordings'),
    gql,
    async ok<T>(token: string | null, query: string, variables?: Record<string, unknown>) {
      const r = await gql<T>(token, query, variables);
      if (r.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(r.errors)}`);
      return r.data as T;
    },
    async close() {
      await kefu.close();
      await cleanup();
    },
  };
}

/** Creates an instance with seats, an admin key, and optionally agents; returns their tokens. */
export async function seedInstance(
  t: TestKefu,
  options: { name?: string; seats?: number; agents?: { name: string; login: string; role?: 'AGENT' | 'SUPERVISOR' | 'ADMIN' }[] } = {},
) {
  const created = await t.ok<{ createInstance: { instance: { id: string }; adminApiKey: string } }>(
    operatorToken,
    'mutation($name: String!) { createInstance(input: { name: $name }) { instance { id } adminApiKey } }',
    { name: options.name ?? 'Acme' },
  );
  const instanceId = created.createInstance.instance.id;
  const adminKey = created.createInstance.adminApiKey;
  if ((options.seats ?? 10) > 0) {
    await t.ok(operatorToken, 'mutation($id: ID!, $n: Int!) { purchaseSeats(input: { instanceId: $id, seats: $n }) { seats } }', {
      id: instanceId,
      n: options.seats ?? 10,
    });
  }
  const agents: { id: string; login: string; token: string }[] = [];
  for (const a of options.agents ?? []) {
    const r = await t.ok<{ createAgent: { id: string } }>(
      adminKey,
      'mutation($input: CreateAgentInput!) { createAgent(input: $input) { id } }',
      { input: { name: a.name, login: a.login, password: 'password-123', role: a.role ?? 'AGENT' } },
    );
    const login = await t.ok<{ loginAgent: { token: string } }>(
      null,
      'mutation($input: LoginAgentInput!) { loginAgent(input: $input) { token } }',
      { input: { instanceId, login: a.login, password: 'password-123' } },
    );
    agents.push({ id: r.createAgent.id, login: a.login, token: login.loginAgent.token });
  }
  return { instanceId, adminKey, agents };
}
