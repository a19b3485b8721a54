// Runs Kefu as a real child process (`node src/main.ts`), as a user would start it.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freshPostgresSchema, natsUrl } from './services.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface KefuProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  /** Sends SIGKILL and waits for the exit. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

export async function spawnKefu(env: Record<string, string>, timeoutMs = 60_000): Promise<KefuProcess> {
  const child = spawn(process.execPath, ['src/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: '0', LOG_LEVEL: 'info', KEFU_SIP: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Kefu did not start in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const look = () => {
      const m = /"graphql":"(http:\/\/[^"]+)\/graphql"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', look);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Kefu exited with ${code}:\n${out}`));
    });
  });
  // Ready means projections caught up with the store.
  for (let i = 0; i < 200; i++) {
    const r = await fetch(`${url}/readyz`).catch(() => null);
    if (r?.ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    url,
    output: () => out,
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function gqlHttp<T = Record<string, unknown>>(
  url: string,
  token: string | null,
  query: string,
  variables?: Record<string, unknown>,
): Promise<{ data: T | null; errors?: { message: string; extensions?: { code?: string } }[] }> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data: T | null };
}

export async function okHttp<T = Record<string, unknown>>(url: string, token: string | null, query: string, variables?: Record<string, unknown>): Promise<T> {
  const r = await gqlHttp<T>(url, token, query, variables);
  if (r.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(r.errors)}`);
  return r.data as T;
}

/** An instance with seats, an admin key and one logged-in agent, made through the HTTP API. */
export async function seedOverHttp(url: string, operatorToken: string) {
  const created = await okHttp<{ createInstance: { instance: { id: string }; adminApiKey: string } }>(
    url,
    operatorToken,
    'mutation { createInstance(input: { name: "Acme" }) { instance { id } adminApiKey } }',
  );
  const instanceId = created.createInstance.instance.id;
  const adminKey = created.createInstance.adminApiKey;
  await okHttp(url, operatorToken, 'mutation($id: ID!) { purchaseSeats(input: { instanceId: $id, seats: 5 }) { seats } }', { id: instanceId });
  const agent = await okHttp<{ createAgent: { id: string } }>(
    url,
    adminKey,
    'mutation { createAgent(input: { name: "Ann", login: "ann", password: "password-123" }) { id } }',
  );
  const login = await okHttp<{ loginAgent: { token: string } }>(
    url,
    null,
    'mutation($id: ID!) { loginAgent(input: { instanceId: $id, login: "ann", password: "password-123" }) { token } }',
    { id: instanceId },
  );
  return { instanceId, adminKey, agentId: agent.createAgent.id, agentToken: login.loginAgent.token };
}

/** Two Kefu processes of one deployment: a fresh PostgreSQL schema and NATS shared, `env` added to both. */
export async function spawnTwoKefus(env: Record<string, string>): Promise<{ a: KefuProcess; b: KefuProcess; stop(): Promise<void> }> {
  const schema = await freshPostgresSchema();
  await schema.client.close();
  const shared = { DATABASE_URL: schema.url, NATS_URL: natsUrl, ...env };
  const started: KefuProcess[] = [];
  const stop = async () => {
    for (const p of started) await p.stop();
    await schema.drop();
  };
  try {
    started.push(await spawnKefu(shared));
    started.push(await spawnKefu(shared));
  } catch (err) {
    await stop();
    throw err;
  }
  return { a: started[0]!, b: started[1]!, stop };
}
