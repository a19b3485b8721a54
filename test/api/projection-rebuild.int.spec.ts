// `npm run projections -- rebuild <name>` rebuilds a projection from zero with the same result.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rebuildProjection } from '../../src/projections/projection-runner.ts';
import { allProjections } from '../../src/projections/registry.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

async function snapshot(t: TestKefu, table: string): Promise<unknown[]> {
  const r = await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(table)}`.execute(t.kefu.db);
  return r.rows.map((row) => JSON.stringify(row)).sort();
}

async function seedHistory(t: TestKefu) {
  const { adminKey, agents } = await seedInstance(t, {
    agents: [
      { name: 'Ann', login: 'ann' },
      { name: 'Bob', login: 'bob', role: 'SUPERVISOR' },
      { name: 'Cid', login: 'cid' },
    ],
  });
  const [ann, bob, cid] = agents as [(typeof agents)[0], (typeof agents)[0], (typeof agents)[0]];
  await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
  await t.ok(ann.token, 'mutation { setPresence(input: { presence: BREAK, reason: "Meal" }) { id } }');
  await t.ok(bob.token, 'mutation($id: ID!) { forceAgentOffline(input: { agentId: $id, reason: "audit" }) { id } }', { id: cid.id });
  const group = await t.ok<{ createSkillGroup: { id: string } }>(adminKey, 'mutation { createSkillGroup(input: { name: "Sales", channel: PHONE }) { id } }');
  await t.ok(adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a, level: 2 }) { id } }', {
    g: group.createSkillGroup.id,
    a: ann.id,
  });
  await t.ok(adminKey, 'mutation($id: ID!) { deleteAgent(input: { id: $id }) { id } }', { id: cid.id });
  await t.ok(adminKey, 'mutation { configureBreakReasons(input: { reasons: ["Rest", "Lunch"] }) }');
  // A contact routed to Ann, accepted and ended; a blacklisted caller turned away; a screen pop setting.
  await t.ok(adminKey, 'mutation { configureScreenPop(input: { urlTemplate: "https://crm.example.com/pop?c={contactId}", pinned: true }) { pinned } }');
  await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
  const create = (caller: string) =>
    t.ok<{ createContact: { id: string; status: string } }>(adminKey, 'mutation($g: ID!, $c: String!) { createContact(input: { channel: PHONE, customer: { kind: PHONE, id: $c }, skillGroupId: $g }) { id status } }', {
      g: group.createSkillGroup.id,
      c: caller,
    });
  const call = (await create('+8613800000001')).createContact.id;
  let offerId: string | null = null;
  for (let i = 0; i < 100 && !offerId; i++) {
    const r = await t.ok<{ contact: { offer: { offerId: string } | null } }>(adminKey, 'query($id: ID!) { contact(id: $id) { offer { offerId } } }', { id: call });
    offerId = r.contact.offer?.offerId ?? null;
    if (!offerId) await new Promise((r) => setTimeout(r, 100));
  }
  await t.ok(ann.token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { id } }', { c: call, o: offerId });
  await t.ok(ann.token, 'mutation($c: ID!) { endContact(input: { contactId: $c }) { id } }', { c: call });
  await t.ok(ann.token, 'mutation { addToBlacklist(input: { channel: PHONE, identity: "+8613800000002", reason: "abuse" }) { id } }');
  const refused = await create('+8613800000002');
  if (refused.createContact.status !== 'REJECTED') throw new Error('a blacklisted caller should be rejected');
}

describe('rebuilding projections', () => {
  describe('on PostgreSQL, from the command line beside a running Kefu', () => {
    let t: TestKefu;
    beforeAll(async () => {
      t = await startTestKefu({ database: 'postgres' });
    });
    afterAll(async () => t?.close());

    it('gives the same rows for every projection', async () => {
      await seedHistory(t);
      for (const projection of allProjections) {
        const before = await Promise.all(projection.tables.map((table) => snapshot(t, table)));
        const { stdout } = await run(process.execPath, ['src/projections/cli.ts', 'rebuild', projection.name], {
          cwd: root,
          env: { PATH: process.env.PATH ?? '', DATABASE_URL: t.databaseUrl! },
        });
        expect(stdout).toMatch(new RegExp(`Rebuilt ${projection.name} from \\d+ events`));
        const after = await Promise.all(projection.tables.map((table) => snapshot(t, table)));
        expect(after).toEqual(before);
      }
    });

    it('refuses an unknown projection with the list of known ones', async () => {
      const err = await run(process.execPath, ['src/projections/cli.ts', 'rebuild', 'nope'], {
        cwd: root,
        env: { PATH: process.env.PATH ?? '', DATABASE_URL: t.databaseUrl! },
      }).catch((e: { code: number; stderr: string }) => e);
      expect(err).toMatchObject({ code: 2 });
      expect((err as { stderr: string }).stderr).toContain('agents');
    });
  });

  describe('on the embedded database', () => {
    let t: TestKefu;
    beforeAll(async () => {
      t = await startTestKefu({ database: 'pglite' });
    });
    afterAll(async () => t?.close());

    it('gives the same rows for every projection', async () => {
      await seedHistory(t);
      for (const projection of allProjections) {
        const before = await Promise.all(projection.tables.map((table) => snapshot(t, table)));
        await rebuildProjection({ store: t.kefu.store, db: t.kefu.db, projection });
        const after = await Promise.all(projection.tables.map((table) => snapshot(t, table)));
        expect(after).toEqual(before);
        expect(before.flat().length).toBeGreaterThan(0);
      }
    });
  });
});
