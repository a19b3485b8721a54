// Telephony administration through the public API, and the SipDirectory the SIP adapter reads: trunks
// (allow-lists, digest HA1 never shown), numbers (one instance platform-wide), agents' SIP extensions
// (usernames unique platform-wide, HA1 = md5(username:realm:password)), isolation between instances.
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlow, ReadModelSipDirectory } from '../../src/adapters/sip-directory/read-model-sip-directory.ts';
import { seedInstance, startTestKefu, type GqlResult, type TestKefu } from '../support/kefu.ts';
import { receptionFlow, telephonyInstance } from './telephony-fixtures.ts';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const errorOf = (r: GqlResult<unknown>) => r.errors?.[0]?.extensions;
const trunkFields = 'id name allowedAddresses username hasPassword outboundUri createdAt updatedAt';

interface Trunk {
  id: string;
  name: string;
  allowedAddresses: string[];
  username: string | null;
  hasPassword: boolean;
  outboundUri: string | null;
}

for (const database of ['pglite', 'postgres'] as const) {
  describe(`telephony (${database})`, () => {
    let t: TestKefu;
    let A: Awaited<ReturnType<typeof telephonyInstance>>;
    let B: Awaited<ReturnType<typeof telephonyInstance>>;
    let aFlowId: string;
    let bFlowId: string;
    let directory: ReadModelSipDirectory;

    const createTrunk = (token: string, input: Record<string, unknown>) =>
      t.gql<{ createTrunk: Trunk }>(token, `mutation($input: CreateTrunkInput!) { createTrunk(input: $input) { ${trunkFields} } }`, { input });
    const updateTrunk = (token: string, input: Record<string, unknown>) =>
      t.gql<{ updateTrunk: Trunk }>(token, `mutation($input: UpdateTrunkInput!) { updateTrunk(input: $input) { ${trunkFields} } }`, { input });
    const bind = (token: string, number: string, flowId: string) =>
      t.gql<{ bindNumber: { number: string; flow: { id: string }; boundAt: string } }>(token, 'mutation($n: String!, $f: ID!) { bindNumber(input: { number: $n, flowId: $f }) { number flow { id } boundAt } }', { n: number, f: flowId });
    const setSip = (token: string, input: Record<string, unknown>) =>
      t.gql<{ setAgentSipCredentials: { agentId: string; username: string; domain: string } }>(
        token,
        'mutation($input: SetAgentSipCredentialsInput!) { setAgentSipCredentials(input: $input) { agentId username domain } }',
        { input },
      );
    const flowOf = async (s: typeof A) =>
      (await t.ok<{ createFlow: { id: string } }>(s.adminKey, 'mutation($d: JSON!) { createFlow(input: { name: "Main", kind: IVR, definition: $d }) { id } }', { d: receptionFlow(s.groupId) })).createFlow.id;

    beforeAll(async () => {
      t = await startTestKefu({ database });
      A = await telephonyInstance(t, 'Alpha', [{ name: 'Ann', login: 'ann' }, { name: 'Sam', login: 'sam', role: 'SUPERVISOR' }, { name: 'Dan', login: 'dan' }]);
      B = await telephonyInstance(t, 'Beta', [{ name: 'Bea', login: 'bea' }]);
      aFlowId = await flowOf(A);
      bFlowId = await flowOf(B);
      directory = new ReadModelSipDirectory(t.kefu.db);
    });
    afterAll(async () => t?.close());

    describe('trunks', () => {
      it('creates a trunk with an allow-list and digest credentials kept as HA1 only', async () => {
        const r = await createTrunk(A.adminKey, {
          name: 'Carrier',
          allowedAddresses: ['203.0.113.0/24', '198.51.100.7', '2001:db8::/32', '198.51.100.7'],
          username: 'kefu-trunk',
          password: 'trunk-secret-1',
          outboundUri: 'sip:carrier.example.com:5060',
        });
        expect(r.errors).toBeUndefined();
        expect(r.data!.createTrunk).toMatchObject({
          name: 'Carrier',
          allowedAddresses: ['203.0.113.0/24', '198.51.100.7', '2001:db8::/32'],
          username: 'kefu-trunk',
          hasPassword: true,
          outboundUri: 'sip:carrier.example.com:5060',
        });
        expect(JSON.stringify(r)).not.toContain('trunk-secret-1');
        const [trunk] = (await directory.trunksOf(A.instanceId)).filter((x) => x.id === r.data!.createTrunk.id);
        expect(trunk).toEqual({
          id: r.data!.createTrunk.id,
          instanceId: A.instanceId,
          allowedAddresses: ['203.0.113.0/24', '198.51.100.7', '2001:db8::/32'],
          digest: { username: 'kefu-trunk', ha1: md5('kefu-trunk:kefu:trunk-secret-1') },
        });
      });

      it('refuses addresses that are not IPs or CIDRs, an empty allow-list, half a digest and a non-SIP URI', async () => {
        expect(errorOf(await createTrunk(A.adminKey, { name: 'x', allowedAddresses: ['carrier.example.com'] }))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.allowedAddresses.0' });
        expect(errorOf(await createTrunk(A.adminKey, { name: 'x', allowedAddresses: ['10.0.0.0/33'] }))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.allowedAddresses.0' });
        expect(errorOf(await createTrunk(A.adminKey, { name: 'x', allowedAddresses: [] }))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.allowedAddresses' });
        expect(errorOf(await createTrunk(A.adminKey, { name: 'x', allowedAddresses: ['10.0.0.1'], username: 'u' }))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.password' });
        expect(errorOf(await createTrunk(A.adminKey, { name: 'x', allowedAddresses: ['10.0.0.1'], outboundUri: 'http://x' }))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.outboundUri' });
      });

      it('updates, lists and deletes trunks; a deleted trunk is no longer offered to the SIP adapter', async () => {
        const created = (await createTrunk(A.adminKey, { name: 'Second', allowedAddresses: ['192.0.2.1'] })).data!.createTrunk;
        expect(created).toMatchObject({ username: null, hasPassword: false, outboundUri: null });
        const updated = await updateTrunk(A.adminKey, { id: created.id, name: 'Backup', allowedAddresses: ['192.0.2.2'], username: 'backup', password: 'backup-secret', outboundUri: 'sips:backup.example.com' });
        expect(updated.data!.updateTrunk).toMatchObject({ name: 'Backup', allowedAddresses: ['192.0.2.2'], username: 'backup', hasPassword: true, outboundUri: 'sips:backup.example.com' });
        expect(errorOf(await updateTrunk(A.adminKey, { id: created.id, username: 'other' }))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.password' });
        const cleared = await updateTrunk(A.adminKey, { id: created.id, removeDigest: true, outboundUri: null });
        expect(cleared.data!.updateTrunk).toMatchObject({ username: null, hasPassword: false, outboundUri: null });
        const list = await t.ok<{ trunks: { name: string }[] }>(A.adminKey, '{ trunks { name } }');
        expect(list.trunks.map((x) => x.name)).toEqual(['Backup', 'Carrier']);
        await t.ok(A.adminKey, 'mutation($id: ID!) { deleteTrunk(input: { id: $id }) { id } }', { id: created.id });
        expect((await directory.trunksOf(A.instanceId)).map((x) => x.id)).not.toContain(created.id);
        expect(errorOf(await updateTrunk(A.adminKey, { id: created.id, name: 'Zombie' }))?.code).toBe('NOT_FOUND');
      });

      it('is for admins only', async () => {
        expect(errorOf(await createTrunk(A.agents[1]!.token, { name: 'x', allowedAddresses: ['10.0.0.1'] }))?.code).toBe('FORBIDDEN');
        expect(errorOf(await t.gql(A.agents[0]!.token, '{ trunks { id } }'))?.code).toBe('FORBIDDEN');
      });
    });

    describe('numbers', () => {
      const number = `+8610${String(Date.now()).slice(-8)}`;

      it('binds a number to a flow; the SIP adapter finds the instance and flow however the number is written', async () => {
        const r = await bind(A.adminKey, `${number.slice(0, 5)} ${number.slice(5, 9)}-${number.slice(9)}`, aFlowId);
        expect(r.errors).toBeUndefined();
        expect(r.data!.bindNumber).toMatchObject({ number, flow: { id: aFlowId } });
        expect(await directory.findNumber(number)).toEqual({ instanceId: A.instanceId, number, flowId: aFlowId });
        expect(await directory.findNumber(number.slice(1))).toEqual({ instanceId: A.instanceId, number, flowId: aFlowId });
        expect(await directory.findNumber('+19995550000')).toBeNull();
        const list = await t.ok<{ numbers: { number: string; flow: { id: string } }[] }>(A.adminKey, '{ numbers { number flow { id } } }');
        expect(list.numbers).toEqual([{ number, flow: { id: aFlowId } }]);
        // loadFlow gives the call the current version's document.
        expect((await loadFlow(t.kefu.db, A.instanceId, aFlowId))?.start).toBe('hours');
        expect(await loadFlow(t.kefu.db, B.instanceId, aFlowId)).toBeNull();
      });

      it('refuses another instance the number: CONFLICT "number is in use", also written without the +', async () => {
        for (const n of [number, number.slice(1)]) {
          const r = await bind(B.adminKey, n, bFlowId);
          expect(errorOf(r)?.code).toBe('CONFLICT');
          expect(r.errors![0]!.message).toMatch(/number is in use/);
        }
        expect((await directory.findNumber(number))?.instanceId).toBe(A.instanceId);
      });

      it("answers B's unbind of A's number like a number that is nowhere, and lets A unbind it; then B may bind it", async () => {
        const foreign = await t.gql(B.adminKey, 'mutation($n: String!) { unbindNumber(input: { number: $n }) { number } }', { n: number });
        const missing = await t.gql(B.adminKey, 'mutation($n: String!) { unbindNumber(input: { number: $n }) { number } }', { n: '+19995550001' });
        expect(errorOf(foreign)?.code).toBe('NOT_FOUND');
        expect(foreign.errors![0]!.message.replace(number, '<n>')).toBe(missing.errors![0]!.message.replace('+19995550001', '<n>'));
        await t.ok(A.adminKey, 'mutation($n: String!) { unbindNumber(input: { number: $n }) { number } }', { n: number });
        expect(await directory.findNumber(number)).toBeNull();
        expect((await bind(B.adminKey, number, bFlowId)).errors).toBeUndefined();
        expect((await directory.findNumber(number))?.instanceId).toBe(B.instanceId);
      });

      it('moves a number to another flow of the same instance', async () => {
        const other = await flowOf(B);
        expect((await bind(B.adminKey, number, other)).data!.bindNumber.flow.id).toBe(other);
        expect((await directory.findNumber(number))?.flowId).toBe(other);
      });

      it('refuses bad numbers, and binding before the qualification is approved', async () => {
        expect(errorOf(await bind(A.adminKey, 'not a number', aFlowId))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.number' });
        const fresh = await seedInstance(t, { name: 'Unapproved' });
        const r = await bind(fresh.adminKey, '+10005550123', randomUUID());
        expect(errorOf(r)?.code).toBe('FORBIDDEN');
        expect(r.errors![0]!.message).toMatch(/qualification/);
      });
    });

    describe('SIP extensions', () => {
      it('sets an agent a generated username; HA1 is md5(username:realm:password); the agent sees their username', async () => {
        const ann = A.agents[0]!;
        const r = await setSip(A.adminKey, { agentId: ann.id, password: 'sip-password-1' });
        expect(r.errors).toBeUndefined();
        const { username, domain } = r.data!.setAgentSipCredentials;
        expect(username).toMatch(/^ann-[0-9a-f]{6}$/);
        expect(domain).toBe('kefu');
        expect(await directory.findExtension(username)).toEqual({ instanceId: A.instanceId, agentId: ann.id, ha1: md5(`${username}:kefu:sip-password-1`) });
        expect(await directory.findExtension(username.toUpperCase())).toMatchObject({ agentId: ann.id });
        const own = await t.ok<{ agent: { sipUsername: string | null } }>(ann.token, 'query($id: ID!) { agent(id: $id) { sipUsername } }', { id: ann.id });
        expect(own.agent.sipUsername).toBe(username);
        // A new password keeps the username.
        const again = await setSip(A.adminKey, { agentId: ann.id, password: 'sip-password-2' });
        expect(again.data!.setAgentSipCredentials.username).toBe(username);
        expect((await directory.findExtension(username))?.ha1).toBe(md5(`${username}:kefu:sip-password-2`));
      });

      it('keeps usernames unique platform-wide, and frees the old one on a change', async () => {
        const [, sam, dan] = A.agents as [unknown, { id: string }, { id: string }];
        const bea = B.agents[0]!;
        expect((await setSip(A.adminKey, { agentId: sam.id, username: 'Desk-100', password: 'sam-password' })).data!.setAgentSipCredentials.username).toBe('desk-100');
        const taken = await setSip(B.adminKey, { agentId: bea.id, username: 'desk-100', password: 'bea-password' });
        expect(errorOf(taken)?.code).toBe('CONFLICT');
        expect(errorOf(await setSip(A.adminKey, { agentId: dan.id, username: 'desk-100', password: 'dan-password' }))?.code).toBe('CONFLICT');
        await setSip(A.adminKey, { agentId: sam.id, username: 'desk-101', password: 'sam-password' });
        expect(await directory.findExtension('desk-100')).toBeNull();
        expect((await setSip(B.adminKey, { agentId: bea.id, username: 'desk-100', password: 'bea-password' })).errors).toBeUndefined();
        expect((await directory.findExtension('desk-100'))?.instanceId).toBe(B.instanceId);
      });

      it('refuses short passwords and malformed usernames', async () => {
        const dan = A.agents[2]!;
        expect(errorOf(await setSip(A.adminKey, { agentId: dan.id, password: 'short' }))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.password' });
        expect(errorOf(await setSip(A.adminKey, { agentId: dan.id, username: 'a b', password: 'long-enough' }))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.username' });
      });

      it("answers another instance's agent like an agent that is nowhere; agents may not set credentials", async () => {
        const bea = B.agents[0]!;
        const foreign = await setSip(A.adminKey, { agentId: bea.id, password: 'hijack-password' });
        const nowhere = randomUUID();
        const missing = await setSip(A.adminKey, { agentId: nowhere, password: 'hijack-password' });
        expect(errorOf(foreign)?.code).toBe('NOT_FOUND');
        expect(foreign.errors![0]!.message.replace(bea.id, '<id>')).toBe(missing.errors![0]!.message.replace(nowhere, '<id>'));
        expect(errorOf(await setSip(A.agents[0]!.token, { agentId: A.agents[0]!.id, password: 'my-own-password' }))?.code).toBe('FORBIDDEN');
      });

      it("finds no extension for a deleted agent", async () => {
        const dan = A.agents[2]!;
        const username = (await setSip(A.adminKey, { agentId: dan.id, username: 'dan-desk', password: 'dan-password' })).data!.setAgentSipCredentials.username;
        expect(await directory.findExtension(username)).not.toBeNull();
        await t.ok(A.adminKey, 'mutation($id: ID!) { deleteAgent(input: { id: $id }) { id } }', { id: dan.id });
        expect(await directory.findExtension(username)).toBeNull();
      });
    });

    it("answers another instance's trunk id like an id that is nowhere, and leaves it unchanged", async () => {
      const bTrunk = (await createTrunk(B.adminKey, { name: 'Beta carrier', allowedAddresses: ['192.0.2.50'] })).data!.createTrunk;
      for (const query of [
        'mutation($id: ID!) { updateTrunk(input: { id: $id, name: "Hijacked", allowedAddresses: ["0.0.0.0/0"] }) { id } }',
        'mutation($id: ID!) { deleteTrunk(input: { id: $id }) { id } }',
      ]) {
        const nowhere = randomUUID();
        const foreign = await t.gql(A.adminKey, query, { id: bTrunk.id });
        const missing = await t.gql(A.adminKey, query, { id: nowhere });
        expect(errorOf(foreign)?.code).toBe('NOT_FOUND');
        expect(foreign.errors![0]!.message.replace(bTrunk.id, '<id>')).toBe(missing.errors![0]!.message.replace(nowhere, '<id>'));
      }
      expect(await directory.trunksOf(B.instanceId)).toEqual([{ id: bTrunk.id, instanceId: B.instanceId, allowedAddresses: ['192.0.2.50'], digest: null }]);
      expect((await t.ok<{ trunks: { id: string }[] }>(A.adminKey, '{ trunks { id } }')).trunks.map((x) => x.id)).not.toContain(bTrunk.id);
    });
  });
}
