// Kefu killed (-9) in the middle of a call: on restart, the call's contact ends with systemError and the
// agent who held it is free again; what was recorded as events before the crash is still there.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { okHttp, spawnKefu } from '../support/process.ts';
import { freshPostgresSchema } from '../support/services.ts';
import { until } from '../support/until.ts';
import { NUMBER, setUpPhoneInstance, sipPassword } from './phone-setup.ts';
import { requireSipp, scenario, sipp } from './sipp.ts';

const operatorToken = 'phone-kill-nine-operator-token';
const SIP_PORT = 25160;

describe('kill -9 in the middle of a call', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('ends the call with systemError on restart and frees its agent', async () => {
    requireSipp();
    const schema = await freshPostgresSchema();
    await schema.client.close();
    cleanups.push(schema.drop);
    const dir = mkdtempSync(path.join(tmpdir(), 'kefu-phone-kill9-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const env = {
      DATABASE_URL: schema.url,
      KEFU_DATA_DIR: dir,
      KEFU_OPERATOR_TOKEN: operatorToken,
      KEFU_SIP: 'on',
      KEFU_SIP_PORT: String(SIP_PORT),
      KEFU_SIP_BIND: '127.0.0.1',
      KEFU_RTP_PORT_MIN: '32000',
      KEFU_RTP_PORT_MAX: '32999',
      KEFU_NODE_ID: 'sip-node-a',
    };
    const first = await spawnKefu(env);
    cleanups.push(() => first.stop());
    const ok = <T,>(token: string | null, query: string, variables?: Record<string, unknown>) => okHttp<T>(first.url, token, query, variables);
    const s = await setUpPhoneInstance(ok, operatorToken, { agents: ['Ann'], tag: `k9${process.pid}` });
    const kefuSip = `127.0.0.1:${SIP_PORT}`;

    // Ann's phone registers and will answer; the customer presses 1 and stays on the line.
    const reg = await sipp({ scenarioFile: scenario('agent-registers.xml', { USER: s.agents[0]!.sipUser, PASSWORD: sipPassword }), target: kefuSip, localPort: 26500, mediaPort: 26504 }).done;
    expect(reg.code, reg.output).toBe(0);
    await ok(s.agents[0]!.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const agent = sipp({
      scenarioFile: scenario('agent-answers.xml', { USER: s.agents[0]!.sipUser, RING_MS: 300 }, { CAPTURE: [], ENDING: [{ step: 'kefu-hangs-up.xml', vars: { WAIT_MS: 60_000 } }] }),
      target: kefuSip,
      localPort: 26500,
      mediaPort: 26504,
      rtpEcho: true,
    });
    cleanups.push(() => agent.kill());
    await agent.listening;
    const caller = '13900000009';
    const customer = sipp({
      scenarioFile: scenario('caller.xml', { CALLER: caller }, {
        STEPS: [{ step: 'press-key.xml', vars: { LISTEN_MS: 1200, KEY: '1', KEY_PCAP: '/usr/share/sip-tester/dtmf_2833_1.pcap' } }, { step: 'pause.xml', vars: { MS: 60_000 } }],
        ENDING: [{ step: 'customer-hangs-up.xml' }],
      }),
      target: kefuSip,
      service: NUMBER,
      localPort: 26510,
      mediaPort: 26514,
    });
    cleanups.push(() => customer.kill());

    const recordQuery = `query($n: String!) { callRecords(first: 1, filter: { number: $n }) { edges { node { contactId acceptedAt endedAt endStatus endedBy recording { id status } } } } }`;
    type Rec = { contactId: string; acceptedAt: string | null; endedAt: string | null; endStatus: string | null; endedBy: string | null; recording: { id: string; status: string } | null };
    const talking = await until(
      async () => (await ok<{ callRecords: { edges: { node: Rec }[] } }>(s.adminKey, recordQuery, { n: caller })).callRecords.edges[0]?.node ?? null,
      (r) => r?.acceptedAt != null && r.recording !== null,
      30_000,
    );
    expect(talking!.endedAt).toBeNull();
    const busy = await ok<{ agentMonitor: { agent: { id: string }; workload: { phone: number } }[] }>(s.adminKey, '{ agentMonitor { agent { id } workload { phone } } }');
    expect(busy.agentMonitor.find((a) => a.agent.id === s.agents[0]!.id)?.workload.phone).toBe(1);

    await first.kill9();
    customer.kill();
    agent.kill();

    const second = await spawnKefu(env);
    cleanups.push(() => second.stop());
    const ok2 = <T,>(token: string | null, query: string, variables?: Record<string, unknown>) => okHttp<T>(second.url, token, query, variables);
    const ended = await until(
      async () => (await ok2<{ callRecords: { edges: { node: Rec }[] } }>(s.adminKey, recordQuery, { n: caller })).callRecords.edges[0]?.node ?? null,
      (r) => r?.endedAt != null,
      30_000,
    );
    expect(ended).toMatchObject({ contactId: talking!.contactId, endStatus: 'systemError', endedBy: 'SYSTEM', acceptedAt: talking!.acceptedAt });
    // Ann holds nothing any more: the router reconciled her workload from the contact's end.
    const freed = await until(
      () => ok2<{ agentMonitor: { agent: { id: string }; workload: { phone: number } }[] }>(s.adminKey, '{ agentMonitor { agent { id } workload { phone } } }'),
      (m) => m.agentMonitor.find((a) => a.agent.id === s.agents[0]!.id)?.workload.phone === 0,
      30_000,
    );
    expect(freed.agentMonitor.find((a) => a.agent.id === s.agents[0]!.id)?.workload.phone).toBe(0);
  });
});
