// Issue 9.3: one instance's bad event never stalls another's read models. An event the blacklist projection
// cannot write (an expiry in the year 10000, appended straight to the store as the API no longer takes it)
// parks instance A's part of it: B's entries keep appearing, A's later events are held, /readyz says
// "degraded" with the part, a command of A that waits for the projection fails at once naming it, and all of
// it survives a restart. The operator's retry, after a fix, applies the held events in order and unparks.
// On PGlite and on PostgreSQL.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startKefu, type Kefu } from '../../src/main.ts';
import { blacklistProjection } from '../../src/projections/blacklist/blacklist.projection.ts';
import { operatorToken, seedInstance, type GqlResult, type TestKefu } from '../support/kefu.ts';
import { freshPostgresSchema, wantPostgres } from '../support/services.ts';
import { until } from '../support/until.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

const databases: ('pglite' | 'postgres')[] = ['pglite', ...((await wantPostgres()) ? (['postgres'] as const) : [])];

interface Entry {
  id: string;
  identity: string;
  expiresAt: string | null;
  removedAt: string | null;
}
interface Part {
  projection: string;
  instanceId: string;
  eventId: string;
  eventType: string;
  streamId: string;
  eventPosition: string;
  error: string;
  parkedAt: string;
  lastRetryAt: string | null;
}

const partFields = 'projection instanceId eventId eventType streamId eventPosition error parkedAt lastRetryAt';
const addMutation = 'mutation($input: AddToBlacklistInput!) { addToBlacklist(input: $input) { id identity expiresAt removedAt } }';
const listQuery = 'query { blacklist(includeInactive: true, first: 200) { edges { node { id identity expiresAt removedAt } } } }';
const partsQuery = `query { parkedProjectionParts { ${partFields} } }`;
const retryMutation = `mutation($input: RetryParkedProjectionPartInput!) { retryParkedProjectionPart(input: $input) { resumed appliedEvents part { ${partFields} } } }`;

describe.each(databases)('parked projection parts (%s)', (database) => {
  const logs: { level: number; msg: string; instanceId?: string }[] = [];
  let env: Record<string, string>;
  let dropStorage: () => Promise<void>;
  let kefu: Kefu;
  let a: { instanceId: string; adminKey: string };
  let b: { instanceId: string; adminKey: string };

  async function start(): Promise<void> {
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as (typeof logs)[number]) });
    kefu = await startKefu(loadConfig(env), { logger, listen: false });
  }
  async function gql<T>(token: string | null, query: string, variables?: Record<string, unknown>): Promise<GqlResult<T>> {
    const res = await kefu.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      payload: JSON.stringify({ query, variables }),
    });
    return { status: res.statusCode, ...(res.json() as Omit<GqlResult<T>, 'status'>) };
  }
  async function ok<T>(token: string | null, query: string, variables?: Record<string, unknown>): Promise<T> {
    const r = await gql<T>(token, query, variables);
    if (r.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(r.errors)}`);
    return r.data as T;
  }
  const add = (token: string, identity: string) => gql<{ addToBlacklist: Entry }>(token, addMutation, { input: { channel: 'PHONE', identity, reason: 'abuse' } });
  const list = async (token: string) => (await ok<{ blacklist: { edges: { node: Entry }[] } }>(token, listQuery)).blacklist.edges.map((e) => e.node);
  const readyz = async () => {
    const res = await kefu.app.inject({ method: 'GET', url: '/readyz' });
    return { status: res.statusCode, body: res.json() as { status: string; parked?: { projection: string; instanceId: string }[] } };
  };
  const timed = async <T,>(work: Promise<T>): Promise<[T, number]> => {
    const started = Date.now();
    const r = await work;
    return [r, Date.now() - started];
  };
  const blacklistEvent = (instanceId: string, type: string, data: Record<string, unknown>) => ({
    id: randomUUID(),
    type,
    data,
    metadata: { instanceId, actor: 'test', correlationId: randomUUID(), causationId: null, occurredAt: new Date().toISOString() },
  });

  beforeAll(async () => {
    env = { KEFU_OPERATOR_TOKEN: operatorToken, LOG_LEVEL: 'silent', PORT: '0', KEFU_SIP: 'off' };
    if (database === 'postgres') {
      const schema = await freshPostgresSchema();
      await schema.client.close();
      const files = mkdtempSync(path.join(tmpdir(), 'kefu-test-files-'));
      env.DATABASE_URL = schema.url;
      env.KEFU_DATA_DIR = files;
      dropStorage = async () => {
        await schema.drop();
        rmSync(files, { recursive: true, force: true });
      };
    } else {
      const dir = mkdtempSync(path.join(tmpdir(), 'kefu-test-'));
      env.KEFU_DATA_DIR = dir;
      dropStorage = async () => rmSync(dir, { recursive: true, force: true });
    }
    await start();
    const t = { ok } as unknown as TestKefu;
    a = await seedInstance(t, { name: 'A', seats: 0 });
    b = await seedInstance(t, { name: 'B', seats: 0 });
  });

  afterAll(async () => {
    await kefu?.close();
    await dropStorage?.();
  });

  it("parks only the part of the instance whose event fails: the other instance's rows keep appearing", async () => {
    expect((await add(a.adminKey, '+8613900000001')).errors).toBeUndefined();
    expect((await add(b.adminKey, '+8613900000101')).errors).toBeUndefined();
    // What the blacklist table cannot hold, written past the API as an older Kefu let it through.
    await kefu.store.appendToStream(
      `blacklist-${a.instanceId}`,
      [blacklistEvent(a.instanceId, 'CustomerBlacklisted', { entryId: randomUUID(), channel: 'PHONE', identity: '+8613900000002', reason: 'year 10000', expiresAt: '+010000-01-01T00:00:00.000Z', byAgentId: null, contactId: null })],
      { expectedRevision: 'any' },
    );

    // B goes on, promptly.
    const [fromB, bMs] = await timed(add(b.adminKey, '+8613900000102'));
    expect(fromB.errors).toBeUndefined();
    expect(fromB.data!.addToBlacklist.identity).toBe('+8613900000102');
    expect(bMs).toBeLessThan(5000);

    // A's command waits for a parked part: a clear CONFLICT at once, not a misleading one after 10 s.
    const [fromA, aMs] = await timed(add(a.adminKey, '+8613900000003'));
    expect(fromA.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(fromA.errors?.[0]?.message).toMatch(/blacklist read model of this instance is parked/);
    expect(aMs).toBeLessThan(3000);

    const parts = (await ok<{ parkedProjectionParts: Part[] }>(operatorToken, partsQuery)).parkedProjectionParts;
    expect(parts).toHaveLength(1);
    expect(parts[0]).toMatchObject({ projection: 'blacklist', instanceId: a.instanceId, eventType: 'CustomerBlacklisted', streamId: `blacklist-${a.instanceId}`, lastRetryAt: null });
    expect(parts[0]!.error).not.toBe('');
    // Only the operator sees them.
    const asAdmin = await gql(a.adminKey, partsQuery);
    expect(asAdmin.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const ready = await readyz();
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'degraded', parked: [{ projection: 'blacklist', instanceId: a.instanceId }] });

    // A's later entry is held, not applied; B's keep coming.
    expect((await list(a.adminKey)).map((e) => e.identity)).toEqual(['+8613900000001']);
    expect((await add(b.adminKey, '+8613900000103')).errors).toBeUndefined();
    expect((await list(b.adminKey)).map((e) => e.identity).sort()).toEqual(['+8613900000101', '+8613900000102', '+8613900000103']);
    // Logged once, not once per held event.
    expect(logs.filter((l) => l.level >= 50 && /parked/.test(l.msg))).toHaveLength(1);
  });

  it('keeps the part parked across a restart: /readyz is degraded, not 503 for ever', async () => {
    // A removal after the held add: the retry must apply the two in this order.
    const stream = await kefu.store.readStream(`blacklist-${a.instanceId}`);
    const heldAdd = stream.at(-1)!;
    expect(heldAdd.data.identity).toBe('+8613900000003');
    await kefu.store.appendToStream(`blacklist-${a.instanceId}`, [blacklistEvent(a.instanceId, 'BlacklistEntryRemoved', { entryId: heldAdd.data.entryId, by: 'test' })], {
      expectedRevision: 'any',
    });

    await kefu.close();
    await start();
    const ready = await until(readyz, (r) => r.status === 200, 60_000);
    expect(ready.body).toMatchObject({ status: 'degraded', parked: [{ projection: 'blacklist', instanceId: a.instanceId }] });
    expect((await add(b.adminKey, '+8613900000104')).errors).toBeUndefined();
    const [fromA, aMs] = await timed(add(a.adminKey, '+8613900000004'));
    expect(fromA.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(aMs).toBeLessThan(3000);
    expect((await list(a.adminKey)).map((e) => e.identity)).toEqual(['+8613900000001']);
  });

  it('a retry before the fix fails, keeps the part parked and shows the error', async () => {
    const r = await ok<{ retryParkedProjectionPart: { resumed: boolean; appliedEvents: number; part: Part | null } }>(operatorToken, retryMutation, {
      input: { projection: 'blacklist', instanceId: a.instanceId },
    });
    expect(r.retryParkedProjectionPart).toMatchObject({ resumed: false, appliedEvents: 0, part: { projection: 'blacklist', instanceId: a.instanceId } });
    expect(r.retryParkedProjectionPart.part!.lastRetryAt).not.toBeNull();
    expect((await readyz()).body.status).toBe('degraded');
    const unknown = await gql(operatorToken, retryMutation, { input: { projection: 'blacklist', instanceId: b.instanceId } });
    expect(unknown.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const nul = await gql(operatorToken, retryMutation, { input: { projection: 'blacklist', instanceId: 'a\u0000b' } });
    expect(nul.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.instanceId' });

    if (database === 'postgres') {
      // The same from the command line, beside the running Kefu (PGlite's data directory is the server's alone).
      const cli = (...args: string[]) => run(process.execPath, ['src/projections/cli.ts', ...args], { cwd: root, env: { PATH: process.env.PATH ?? '', DATABASE_URL: env.DATABASE_URL! } });
      // The three at once (each is a Node process loading Kefu's modules: seconds on a busy machine); the retry
      // leaves the part parked, so what the other two read is the same before and after it.
      const [parked, status, retried] = await Promise.all([
        cli('parked'),
        cli('status'),
        cli('retry', 'blacklist', a.instanceId).catch((e: { code: number; stderr: string }) => e),
      ]);
      expect(parked.stdout).toContain(`blacklist\t${a.instanceId}\tCustomerBlacklisted`);
      expect(status.stdout).toMatch(/blacklist\t\S+\t1 instance\(s\) parked/);
      expect(retried).toMatchObject({ code: 1 });
      expect((retried as { stderr: string }).stderr).toContain('Still parked');
    }
  });

  it('a retry after the fix applies the held events in order, unparks the part and /readyz is ready again', async () => {
    const held = (await kefu.store.readStream(`blacklist-${a.instanceId}`)).slice(1);
    // The fix, as a release would ship it: an expiry past what the table holds means no expiry.
    const apply = blacklistProjection.apply!;
    blacklistProjection.apply = (trx, e, changes) => {
      const data = e.data as { expiresAt?: string | null };
      const fixed = typeof data.expiresAt === 'string' && data.expiresAt.startsWith('+') ? { ...e, data: { ...e.data, expiresAt: null } } : e;
      return apply(trx, fixed, changes);
    };
    try {
      const r = await ok<{ retryParkedProjectionPart: { resumed: boolean; appliedEvents: number; part: Part | null } }>(operatorToken, retryMutation, {
        input: { projection: 'blacklist', instanceId: a.instanceId },
      });
      expect(r.retryParkedProjectionPart).toEqual({ resumed: true, appliedEvents: held.length, part: null });

      const entries = await list(a.adminKey);
      expect(entries.map((e) => e.identity).sort()).toEqual(['+8613900000001', '+8613900000002', '+8613900000003', '+8613900000004']);
      // The removal came after its add: applied in order, the entry is removed.
      expect(entries.find((e) => e.identity === '+8613900000003')!.removedAt).not.toBeNull();
      expect((await readyz()).body).toEqual({ status: 'ready' });
      expect((await ok<{ parkedProjectionParts: Part[] }>(operatorToken, partsQuery)).parkedProjectionParts).toEqual([]);

      // A's commands wait for the projection as before, and see their rows.
      const [fromA, aMs] = await timed(add(a.adminKey, '+8613900000005'));
      expect(fromA.errors).toBeUndefined();
      expect(fromA.data!.addToBlacklist.identity).toBe('+8613900000005');
      expect(aMs).toBeLessThan(5000);
    } finally {
      blacklistProjection.apply = apply;
    }
  });
});
