// CSV exports of call and chat records over HTTP (issue 15), parsed back with csv-parse: the same rows as the
// GraphQL lists (same order, same filters), a UTF-8 BOM and CRLF, cells that look like formulas escaped,
// times in the asked zone, bad filters refused with the field named, roles (an agent exports only their own
// calls; the operator and anonymous callers nothing), instances isolated, and thousands of rows through many
// keyset pages (ties on the time included) over a real socket, streamed (chunked, no Content-Length); on
// PostgreSQL and the embedded PGlite.
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { parse } from 'csv-parse/sync';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contactDecider, type ContactCommand } from '../../src/domain/contact/contact.decide.ts';
import type { CallInfo } from '../../src/domain/contact/contact.ts';
import { streams } from '../../src/domain/streams.ts';
import { operatorToken, seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

type Seeded = Awaited<ReturnType<typeof seedInstance>>;
type Row = Record<string, string>;

interface Download {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  raw: Buffer;
  text: string;
}

for (const database of ['postgres', 'pglite'] as const) {
  describe(`CSV exports (${database})`, () => {
    let t: TestKefu;
    let url: string;
    let a: Seeded & { salesId: string; webId: string; integrationKey: string };
    let b: Seeded;
    let ann: Seeded['agents'][0];
    let bob: Seeded['agents'][0];
    let sue: Seeded['agents'][0];
    /** Ann's outbound call, not answered. */
    let annCall: string;
    /** Inbound from a caller id that looks like a formula, queued in Sales, abandoned. */
    let formulaCall: string;
    /** Bob's outbound call. */
    let bobCall: string;
    /** A chat whose customer's name has quotes, a comma, a line break and Chinese; one whose name is a formula. */
    let quotedChat: string;
    let formulaChat: string;
    let otherInstanceCall: string;
    const bulk = 1_234;

    const contactCommand = (instanceId: string, contactId: string, command: { type: ContactCommand['type']; data: Record<string, unknown> }) =>
      t.kefu.commands.handle(streams.contact(instanceId, contactId), contactDecider, {
        type: command.type,
        data: { contactId, ...command.data },
        metadata: { now: new Date().toISOString(), instanceId, actor: 'system:sip', correlationId: randomUUID() },
      } as ContactCommand);

    const callInfo = (from: string, to: string, direction: 'IN' | 'OUT'): CallInfo => ({ callId: `${randomUUID()}@trunk.example.com`, direction, from, to, trunkId: null, node: 'node-a' });

    async function outboundCall(instanceId: string, agentId: string, customer: string): Promise<string> {
      const contactId = randomUUID();
      await contactCommand(instanceId, contactId, {
        type: 'StartOutboundCall',
        data: { agentId, skillGroupId: null, customer: { kind: 'PHONE', id: customer, name: null }, data: {}, call: callInfo('+864001234567', customer, 'OUT') },
      });
      await contactCommand(instanceId, contactId, { type: 'EndContact', data: { reason: 'notAnswered', endedBy: 'SYSTEM', agentId: null } });
      return contactId;
    }

    async function chat(name: string, customerId: string): Promise<string> {
      const created = await t.ok<{ createContact: { id: string } }>(
        a.integrationKey,
        'mutation($input: CreateContactInput!) { createContact(input: $input) { id } }',
        { input: { channel: 'ONLINE', customer: { kind: 'WEB', id: customerId, name }, skillGroupId: a.webId } },
      );
      const id = created.createContact.id;
      // The router may have turned it away already (no agent online): then it has ended on its own.
      await t.gql(a.integrationKey, 'mutation($id: ID!) { endContact(input: { contactId: $id }) { id } }', { id });
      return id;
    }

    /** GET over a real socket; the whole body. */
    function download(path: string, token: string | null, headers: Record<string, string> = {}): Promise<Download> {
      return new Promise((resolve, reject) => {
        const req = request(`${url}${path}`, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const raw = Buffer.concat(chunks);
            resolve({ status: res.statusCode!, headers: res.headers, raw, text: raw.toString('utf8') });
          });
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
    }

    const rowsOf = (d: Download): Row[] => {
      expect(d.status).toBe(200);
      return parse(d.text, { bom: true, columns: true, record_delimiter: '\r\n' }) as Row[];
    };
    const csv = async (path: string, token: string | null) => rowsOf(await download(path, token));
    const errorOf = (d: Download) => JSON.parse(d.text) as { error: { code: string; field?: string; message: string } };

    /** Every contactId of callRecords for this token and filter, newest first, through GraphQL's pages. */
    async function listedCalls(token: string, filter: Record<string, unknown> = {}): Promise<string[]> {
      const ids: string[] = [];
      let after: string | null = null;
      for (;;) {
        const r: { callRecords: { edges: { node: { contactId: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } = await t.ok(
          token,
          'query($after: String, $filter: CallRecordFilter) { callRecords(first: 200, after: $after, filter: $filter) { edges { node { contactId } } pageInfo { hasNextPage endCursor } } }',
          { after, filter },
        );
        ids.push(...r.callRecords.edges.map((e) => e.node.contactId));
        if (!r.callRecords.pageInfo.hasNextPage) return ids;
        after = r.callRecords.pageInfo.endCursor;
      }
    }

    beforeAll(async () => {
      t = await startTestKefu({ database, listen: true });
      url = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
      const seeded = await seedInstance(t, {
        name: 'Exports',
        agents: [
          { name: 'Ann', login: 'ann' },
          { name: 'Bob', login: 'bob' },
          { name: 'Sue', login: 'sue', role: 'SUPERVISOR' },
        ],
      });
      [ann, bob, sue] = seeded.agents as [typeof ann, typeof ann, typeof ann];
      const key = await t.ok<{ createApiKey: { secret: string } }>(seeded.adminKey, 'mutation { createApiKey(input: { name: "crm", role: INTEGRATION }) { secret } }');
      const sales = await t.ok<{ createSkillGroup: { id: string } }>(seeded.adminKey, 'mutation { createSkillGroup(input: { name: "Sales", channel: PHONE, strategy: LONGEST_IDLE }) { id } }');
      const web = await t.ok<{ createSkillGroup: { id: string } }>(seeded.adminKey, 'mutation { createSkillGroup(input: { name: "Web", channel: ONLINE, strategy: LONGEST_IDLE }) { id } }');
      a = { ...seeded, salesId: sales.createSkillGroup.id, webId: web.createSkillGroup.id, integrationKey: key.createApiKey.secret };
      b = await seedInstance(t, { name: 'Other', agents: [{ name: 'Olga', login: 'olga' }] });

      // Bulk rows straight into the read model, older than the real ones: 600 of them share one start time,
      // so pages break inside a tie and only the contact id orders them.
      await sql`
        INSERT INTO call_records (instance_id, contact_id, call_id, direction, caller, callee, node, started_at, end_status, updated_at)
        SELECT ${a.instanceId}, gen_random_uuid()::text, 'bulk-' || n, 'IN', '+86138' || lpad(n::text, 8, '0'), '+864001234567', 'node-a',
               CASE WHEN n <= 600 THEN timestamptz '2026-01-15T08:00:00Z' ELSE timestamptz '2026-01-15T00:00:00Z' + n * interval '1 minute' END,
               'ok', now()
        FROM generate_series(1, ${bulk}) AS n`.execute(t.kefu.db);

      annCall = await outboundCall(a.instanceId, ann.id, '+8613900000001');
      bobCall = await outboundCall(a.instanceId, bob.id, '+8613900000002');
      formulaCall = randomUUID();
      await contactCommand(a.instanceId, formulaCall, {
        type: 'CreateContact',
        data: { channel: 'PHONE', direction: 'IN', customer: { kind: 'PHONE', id: '=2+5', name: null }, data: {}, call: callInfo('=2+5', '+864001234567', 'IN') },
      });
      await contactCommand(a.instanceId, formulaCall, { type: 'QueueContact', data: { skillGroupId: a.salesId, priority: 0 } });
      // The caller hangs up in the queue, unless the router turned the call away first (no agent online).
      await contactCommand(a.instanceId, formulaCall, { type: 'EndContact', data: { reason: 'customerHangUp', endedBy: 'CUSTOMER', agentId: null } }).catch(() => undefined);
      otherInstanceCall = await outboundCall(b.instanceId, b.agents[0]!.id, '+8613900000009');

      quotedChat = await chat('Zhang "Boss",\n张三', 'visitor-1');
      formulaChat = await chat('=HYPERLINK("http://evil.example","click")', 'visitor-2');

      await until(
        () => t.ok<{ callRecord: { endStatus: string | null } }>(a.adminKey, 'query($id: ID!) { callRecord(contactId: $id) { endStatus } }', { id: formulaCall }).catch(() => null),
        (r) => r?.callRecord.endStatus !== null && r?.callRecord.endStatus !== undefined,
      );
      for (const id of [annCall, bobCall]) {
        await until(
          () => t.ok<{ callRecord: { endStatus: string | null } }>(a.adminKey, 'query($id: ID!) { callRecord(contactId: $id) { endStatus } }', { id }).catch(() => null),
          (r) => r?.callRecord.endStatus === 'notAnswered',
        );
      }
      await until(
        () => t.ok<{ callRecord: { endStatus: string | null } }>(b.adminKey, 'query($id: ID!) { callRecord(contactId: $id) { endStatus } }', { id: otherInstanceCall }).catch(() => null),
        (r) => r?.callRecord.endStatus === 'notAnswered',
      );
      for (const id of [quotedChat, formulaChat]) {
        await until(
          () => t.ok<{ chatRecord: { endStatus: string | null } }>(a.adminKey, 'query($id: ID!) { chatRecord(contactId: $id) { endStatus } }', { id }).catch(() => null),
          (r) => r?.chatRecord.endStatus !== null && r?.chatRecord.endStatus !== undefined,
        );
      }
    });
    afterAll(async () => t?.close());

    it('exports every call record of the instance as callRecords lists them: same rows, same order, across pages and ties', async () => {
      const d = await download('/exports/call-records.csv', a.adminKey);
      expect(d.status).toBe(200);
      expect(d.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(d.headers['content-disposition']).toBe('attachment; filename="call-records.csv"');
      // Streamed: chunked, never a Content-Length computed from a body held in memory.
      expect(d.headers['transfer-encoding']).toBe('chunked');
      expect(d.headers['content-length']).toBeUndefined();
      expect(d.headers['cache-control']).toBe('private, no-store');
      expect([...d.raw.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
      expect(d.text.split('\r\n')[0]).toBe(
        '\uFEFFcontactId,callId,direction,caller,callee,trunkId,startedAt,flowStartedAt,queuedAt,ringAt,acceptedAt,endedAt,ivrSeconds,queueSeconds,ringSeconds,talkSeconds,holdSeconds,endStatus,endedBy,skillGroupId,skillGroup,servedSkillGroupId,servedSkillGroup,agentId,agent,legAgentIds,keys,recordingId,silentSides,satisfactionValue,satisfactionLabel,satisfactionComment',
      );
      expect(d.text.endsWith('\r\n')).toBe(true);
      const rows = rowsOf(d);
      expect(rows.length).toBe(bulk + 3);
      expect(rows.map((r) => r.contactId)).toEqual(await listedCalls(a.adminKey));
      expect(new Set(rows.map((r) => r.contactId)).size).toBe(rows.length);
      expect(rows.map((r) => r.contactId)).not.toContain(otherInstanceCall);
    });

    it('writes each field of a record as the API gives it, with cells that look like formulas escaped', async () => {
      const rows = await csv('/exports/call-records.csv', a.adminKey);
      const byId = new Map(rows.map((r) => [r.contactId, r]));
      const api = await t.ok<{ callRecord: Record<string, unknown> & { agent: { id: string; name: string } | null } }>(
        a.adminKey,
        'query($id: ID!) { callRecord(contactId: $id) { callId direction caller callee startedAt endedAt endStatus endedBy agent { id name } } }',
        { id: annCall },
      );
      const r = byId.get(annCall)!;
      expect(r).toMatchObject({
        callId: api.callRecord.callId,
        direction: 'OUT',
        // A number starting with + is a formula to a spreadsheet: written with a leading '.
        caller: `'+864001234567`,
        callee: `'+8613900000001`,
        endStatus: 'notAnswered',
        endedBy: 'SYSTEM',
        agentId: ann.id,
        agent: 'Ann',
        legAgentIds: ann.id,
        trunkId: '',
        recordingId: '',
        satisfactionValue: '',
      });
      expect(r.startedAt).toBe((api.callRecord.startedAt as string).replace(/\.\d{3}Z$/, 'Z'));
      expect(r.endedAt).toBe((api.callRecord.endedAt as string).replace(/\.\d{3}Z$/, 'Z'));
      const f = byId.get(formulaCall)!;
      expect(f).toMatchObject({ caller: `'=2+5`, skillGroupId: a.salesId, skillGroup: 'Sales' });
    });

    it('sums the holds of every leg, lists each leg’s agent once in leg order, and the keys in order', async () => {
      // Bob's call given three legs (Bob, Ann, Bob again; one without holdMs) and two keys, as the projection writes them.
      const legs = [
        { sequence: 1, agentId: bob.id, holdMs: 1500 },
        { sequence: 2, agentId: ann.id },
        { sequence: 3, agentId: bob.id, holdMs: 2600 },
      ];
      const keys = [
        { key: '1', label: 'Sales', at: new Date().toISOString() },
        { key: '#', label: null, at: new Date().toISOString() },
      ];
      await sql`UPDATE call_records SET legs = ${JSON.stringify(legs)}::jsonb, keys = ${JSON.stringify(keys)}::jsonb
        WHERE instance_id = ${a.instanceId} AND contact_id = ${bobCall}`.execute(t.kefu.db);
      const r = (await csv('/exports/call-records.csv', a.adminKey)).find((row) => row.contactId === bobCall)!;
      expect(r).toMatchObject({ holdSeconds: '4', legAgentIds: `${bob.id} ${ann.id}`, keys: '1 #' });
    });

    it('writes the times in the asked zone with its offset', async () => {
      const utc = new Map((await csv('/exports/call-records.csv', a.adminKey)).map((r) => [r.contactId, r]));
      const shanghai = await download(`/exports/call-records.csv?timeZone=Asia/Shanghai`, a.adminKey);
      expect(shanghai.headers['x-kefu-time-zone']).toBe('Asia/Shanghai');
      for (const r of rowsOf(shanghai)) {
        expect(r.startedAt).toMatch(/\+08:00$/);
        expect(Date.parse(r.startedAt!)).toBe(Date.parse(utc.get(r.contactId!)!.startedAt!));
      }
    });

    it('applies the query filters: interval, skill group, agent, direction, number, rated', async () => {
      const from = '2026-01-15T08:00:00Z';
      const to = '2026-01-15T10:30:00Z';
      const interval = await download(`/exports/call-records.csv?from=${from}&to=${to}`, a.adminKey);
      expect(interval.headers['content-disposition']).toBe('attachment; filename="call-records_2026-01-15_2026-01-15.csv"');
      const inInterval = rowsOf(interval);
      expect(inInterval.map((r) => r.contactId)).toEqual(await listedCalls(a.adminKey, { from, to }));
      // The 600 tied rows at 08:00 and the per-minute rows from 10:01 to 10:29.
      expect(inInterval.length).toBe(600 + 29);

      expect((await csv(`/exports/call-records.csv?skillGroupId=${a.salesId}`, a.adminKey)).map((r) => r.contactId)).toEqual([formulaCall]);
      expect((await csv(`/exports/call-records.csv?agentId=${bob.id}`, a.adminKey)).map((r) => r.contactId)).toEqual([bobCall]);
      expect((await csv('/exports/call-records.csv?direction=OUT', a.adminKey)).map((r) => r.contactId).sort()).toEqual([annCall, bobCall].sort());
      expect((await csv(`/exports/call-records.csv?number=${encodeURIComponent('+8613900000002')}`, a.adminKey)).map((r) => r.contactId)).toEqual([bobCall]);
      expect((await csv('/exports/call-records.csv?rated=true', a.adminKey)).length).toBe(0);
      expect((await csv('/exports/call-records.csv?rated=false&mediaSilent=false', a.adminKey)).length).toBe(bulk + 3);
      // Nothing matches: the header row alone.
      const none = await download('/exports/call-records.csv?satisfaction=5', a.adminKey);
      expect(rowsOf(none)).toEqual([]);
      expect(none.text.startsWith('\uFEFFcontactId,')).toBe(true);
    });

    it('refuses a bad filter with BAD_USER_INPUT naming the parameter', async () => {
      const cases: [string, string][] = [
        ['direction=SIDEWAYS', 'direction'],
        ['from=yesterday', 'from'],
        ['from=2026-02-30T00:00:00Z', 'from'],
        ['from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'to'],
        ['skillGroupId=not-an-id', 'skillGroupId'],
        ['rated=yes', 'rated'],
        ['satisfaction=11', 'satisfaction'],
        ['satisfaction=1.5', 'satisfaction'],
        ['timeZone=Mars/Olympus_Mons', 'timeZone'],
        // A misspelt filter would otherwise export everything.
        ['skillgroupid=x', 'skillgroupid'],
        ['direction=IN&direction=OUT', 'direction'],
      ];
      for (const [query, field] of cases) {
        const d = await download(`/exports/call-records.csv?${query}`, a.adminKey);
        expect(d.status, query).toBe(400);
        expect(errorOf(d).error, query).toMatchObject({ code: 'BAD_USER_INPUT', field });
      }
      const chat = await download('/exports/chat-records.csv?endStatus=ok', a.adminKey);
      expect(chat.status).toBe(400);
      expect(errorOf(chat).error).toMatchObject({ code: 'BAD_USER_INPUT', field: 'endStatus' });
    });

    it('lets an agent export only their own calls; supervisors and API keys the instance; refuses the operator and anonymous callers', async () => {
      expect((await csv('/exports/call-records.csv', ann.token)).map((r) => r.contactId)).toEqual([annCall]);
      // Asking for another agent's calls gives nothing more.
      expect(await csv(`/exports/call-records.csv?agentId=${bob.id}`, ann.token)).toEqual([]);
      expect((await csv('/exports/call-records.csv', sue.token)).length).toBe(bulk + 3);
      expect((await csv('/exports/call-records.csv', a.integrationKey)).length).toBe(bulk + 3);
      // A link the browser follows: the token in the query.
      expect((await csv(`/exports/call-records.csv?access_token=${encodeURIComponent(ann.token)}`, null)).map((r) => r.contactId)).toEqual([annCall]);

      const operator = await download('/exports/call-records.csv', operatorToken);
      expect(operator.status).toBe(403);
      expect(errorOf(operator).error.code).toBe('FORBIDDEN');
      const anonymous = await download('/exports/call-records.csv', null);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers['www-authenticate']).toBe('Bearer');
      expect(errorOf(anonymous).error.code).toBe('UNAUTHENTICATED');
      const forged = await download('/exports/chat-records.csv', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl');
      expect(forged.status).toBe(401);
    });

    it("never includes another instance's rows, whatever the filter names", async () => {
      const other = await csv('/exports/call-records.csv', b.adminKey);
      expect(other.map((r) => r.contactId)).toEqual([otherInstanceCall]);
      expect(await csv(`/exports/call-records.csv?agentId=${ann.id}`, b.adminKey)).toEqual([]);
      expect(await csv(`/exports/call-records.csv?agentId=${b.agents[0]!.id}`, a.adminKey)).toEqual([]);
      expect(await csv('/exports/chat-records.csv', b.adminKey)).toEqual([]);
    });

    it('exports chat records as chatRecords lists them, names with quotes, line breaks and Chinese intact, formulas escaped', async () => {
      const d = await download('/exports/chat-records.csv', a.adminKey);
      const rows = rowsOf(d);
      const api = await t.ok<{ chatRecords: { edges: { node: { contactId: string; customer: { name: string }; endStatus: string } }[] } }>(
        a.adminKey,
        'query { chatRecords(first: 200) { edges { node { contactId customer { name } endStatus } } } }',
      );
      expect(rows.map((r) => r.contactId)).toEqual(api.chatRecords.edges.map((e) => e.node.contactId));
      const byId = new Map(rows.map((r) => [r.contactId, r]));
      expect(byId.get(quotedChat)).toMatchObject({ customerName: 'Zhang "Boss",\n张三', customerId: 'visitor-1', customerKind: 'WEB', skillGroupId: a.webId, skillGroup: 'Web' });
      expect(byId.get(formulaChat)!.customerName).toBe(`'=HYPERLINK("http://evil.example","click")`);
      expect(byId.get(quotedChat)!.endStatus).toBe(api.chatRecords.edges.find((e) => e.node.contactId === quotedChat)!.node.endStatus);
      expect((await csv(`/exports/chat-records.csv?customerId=visitor-2`, a.adminKey)).map((r) => r.contactId)).toEqual([formulaChat]);
      // Ann served no chat.
      expect(await csv('/exports/chat-records.csv', ann.token)).toEqual([]);
    });

    it('answers HEAD with the headers alone, and ends a download the client abandons without harm', async () => {
      const head = await new Promise<{ status: number; type: string | undefined; body: number }>((resolve, reject) => {
        const req = request(`${url}/exports/call-records.csv`, { method: 'HEAD', headers: { authorization: `Bearer ${a.adminKey}` } }, (res) => {
          let body = 0;
          res.on('data', (c: Buffer) => (body += c.length));
          res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body }));
        });
        req.on('error', reject);
        req.end();
      });
      expect(head).toEqual({ status: 200, type: 'text/csv; charset=utf-8', body: 0 });
      // A client that reads the first chunk and hangs up: Kefu goes on answering.
      await new Promise<void>((resolve, reject) => {
        const req = request(`${url}/exports/call-records.csv`, { headers: { authorization: `Bearer ${a.adminKey}` } }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
        req.end();
      });
      expect((await csv('/exports/call-records.csv?direction=OUT', a.adminKey)).length).toBe(2);
    });

    it('streams a large export to a slow reader over a real socket and ends it whole', async () => {
      // 20,000 more rows; the reader pauses between chunks, so the server has to wait on it (backpressure).
      const big = await seedInstance(t, { name: 'Big', seats: 0 });
      await sql`
        INSERT INTO call_records (instance_id, contact_id, call_id, direction, caller, callee, node, started_at, updated_at)
        SELECT ${big.instanceId}, gen_random_uuid()::text, 'big-' || n, 'IN', '1380000' || n, '4001234567', 'node-a',
               timestamptz '2026-06-01T00:00:00Z' + (n % 5000) * interval '1 second', now()
        FROM generate_series(1, 20000) AS n`.execute(t.kefu.db);
      const result = await new Promise<{ rows: number; chunks: number }>((resolve, reject) => {
        const req = request(`${url}/exports/call-records.csv`, { headers: { authorization: `Bearer ${big.adminKey}` } }, (res) => {
          expect(res.statusCode).toBe(200);
          let rows = 0;
          let chunks = 0;
          res.on('data', (c: Buffer) => {
            chunks++;
            for (const byte of c) if (byte === 0x0a) rows++;
            if (chunks % 20 === 0) {
              res.pause();
              setTimeout(() => res.resume(), 5);
            }
          });
          res.on('end', () => resolve({ rows, chunks }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
      expect(result.rows).toBe(20_001);
      expect(result.chunks).toBeGreaterThan(20);
    });
  });
}
