// REGISTER from agent phones with real SIPp: digest, wrong passwords, bindings, expiry, lockout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explain, freeSipPort, requireSipp, runSipp, skipWithoutSipp } from './sipp.ts';
import { eventually, startTestSipServer, type TestSipServer } from './sip-test-server.ts';

const port = 15060;
const remote = `127.0.0.1:${port}`;

describe.skipIf(skipWithoutSipp)('REGISTER (SIPp)', () => {
  let sip: TestSipServer;

  beforeAll(async () => {
    requireSipp();
    sip = await startTestSipServer(port, undefined, {
      maxRegisterExpires: 300,
      registerFailureDelayMs: 100,
      registerLockoutAfter: 3,
    });
    sip.directory.addExtension('alice', 'secret-a', 'agent-alice');
    sip.directory.addExtension('bob', 'secret-b', 'agent-bob');
    sip.directory.addExtension('carol', 'secret-c', 'agent-carol');
  });

  afterAll(async () => {
    await sip?.stop();
  });

  const register = async (user: string, password: string, expires: number, scenario = 'register.xml', transport: 'udp' | 'tcp' = 'udp') => {
    const localPort = await freeSipPort(transport);
    const result = await runSipp({ scenario, remote, localPort, transport, service: user, extra: ['-au', user, '-ap', password, '-key', 'expires', String(expires)] });
    return { result, localPort };
  };

  it('accepts the right password after a 401 challenge and binds the contact to the agent', async () => {
    const { result, localPort } = await register('alice', 'secret-a', 120);
    expect(result.code, explain(result)).toBe(0);
    const [binding, ...more] = sip.server.registrations.lookup('agent-alice');
    expect(more).toEqual([]);
    expect(binding).toMatchObject({
      agentId: 'agent-alice',
      instanceId: 'inst-1',
      contactUri: `sip:alice@127.0.0.1:${localPort};transport=UDP`,
      source: { address: '127.0.0.1', port: localPort, transport: 'udp' },
      userAgent: 'SIPp register.xml',
    });
    expect(binding!.expiresAt - Date.now()).toBeGreaterThan(110_000);
    expect(binding!.expiresAt - Date.now()).toBeLessThanOrEqual(120_000);
  });

  it('registers over TCP too, with the connection as the source', async () => {
    const events: string[] = [];
    sip.server.registrations.on('registered', (r) => events.push(`registered ${r.agentId} ${r.source.transport}`));
    sip.server.registrations.on('unregistered', (r, reason) => events.push(`unregistered ${r.agentId} ${reason}`));
    const { result } = await register('carol', 'secret-c', 120, 'register.xml', 'tcp');
    expect(result.code, explain(result)).toBe(0);
    // SIPp closes its connection on exit: a TCP binding without its connection is unreachable.
    await eventually(() => events.includes('unregistered agent-carol connection-closed'));
    expect(events).toEqual(['registered agent-carol tcp', 'unregistered agent-carol connection-closed']);
    expect(sip.server.registrations.lookup('agent-carol')).toEqual([]);
  });

  it('keeps several devices per agent and clamps Expires to [60, max]', async () => {
    const first = await register('bob', 'secret-b', 5);
    const second = await register('bob', 'secret-b', 99_999);
    expect(first.result.code, explain(first.result)).toBe(0);
    expect(second.result.code, explain(second.result)).toBe(0);
    const bindings = sip.server.registrations.lookup('agent-bob');
    expect(bindings).toHaveLength(2);
    const byPort = new Map(bindings.map((b) => [b.source.port, Math.round((b.expiresAt - Date.now()) / 1000)]));
    expect(byPort.get(first.localPort)).toBeGreaterThanOrEqual(58);
    expect(byPort.get(first.localPort)).toBeLessThanOrEqual(60);
    expect(byPort.get(second.localPort)).toBeGreaterThanOrEqual(298);
    expect(byPort.get(second.localPort)).toBeLessThanOrEqual(300);
  });

  it('never returns a binding past its expiry', async () => {
    const { result } = await register('bob', 'secret-b', 60);
    expect(result.code, explain(result)).toBe(0);
    const unregistered: string[] = [];
    sip.server.registrations.on('unregistered', (r, reason) => unregistered.push(`${r.agentId}:${reason}`));
    sip.clock.now = Date.now() + 301_000;
    try {
      expect(sip.server.registrations.lookup('agent-bob')).toEqual([]);
      sip.server.registrations.sweep();
      expect(unregistered.filter((u) => u === 'agent-bob:expired').length).toBeGreaterThanOrEqual(2);
    } finally {
      sip.clock.now = null;
    }
  });

  it('removes the binding on Expires: 0', async () => {
    const { localPort } = await register('alice', 'secret-a', 120);
    expect(sip.server.registrations.lookup('agent-alice').some((r) => r.source.port === localPort)).toBe(true);
    // Same contact (same local port), now with Expires: 0.
    const result = await runSipp({ scenario: 'unregister.xml', remote, localPort, service: 'alice', extra: ['-au', 'alice', '-ap', 'secret-a', '-key', 'expires', '0'] });
    expect(result.code, explain(result)).toBe(0);
    expect(sip.server.registrations.lookup('agent-alice').some((r) => r.source.port === localPort)).toBe(false);
  });

  it('answers a wrong password and an unknown user with a fresh 401', async () => {
    const wrong = await register('alice', 'not-her-password', 120, 'register-rejected.xml');
    expect(wrong.result.code, explain(wrong.result)).toBe(0);
    const unknown = await register('mallory', 'whatever', 120, 'register-rejected.xml');
    expect(unknown.result.code, explain(unknown.result)).toBe(0);
  });

  it('slows repeated failures down and then locks the user out with 403, even with the right password', async () => {
    const started = Date.now();
    // alice already failed once above; failures 2 and 3 are delayed 200 and 400 ms.
    for (let i = 0; i < 2; i++) {
      const { result } = await register('alice', 'wrong', 120, 'register-rejected.xml');
      expect(result.code, explain(result)).toBe(0);
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    const locked = await register('alice', 'secret-a', 120, 'register-locked-out.xml');
    expect(locked.result.code, explain(locked.result)).toBe(0);
  });
});
