// Kefu's graphql-ws server (src/api/graphql-ws-server.ts) frame by frame, with a raw `ws` client: the
// handshake and its refusals, ping/pong, subscribe/next/complete in both sub-protocols, errors with codes for
// what cannot start, and the close codes graphql-transport-ws defines.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

interface Frame {
  type: string;
  id?: string;
  payload?: unknown;
}

/** A raw connection that keeps every frame and how it closed. */
function connect(url: string, protocol: string | null) {
  const socket = protocol === null ? new WebSocket(url) : new WebSocket(url, protocol);
  const frames: Frame[] = [];
  let closed: { code: number; reason: string } | null = null;
  socket.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString()) as Frame));
  socket.on('close', (code, reason) => (closed = { code, reason: reason.toString() }));
  const opened = new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return {
    socket,
    frames,
    get closed() {
      return closed;
    },
    send: async (frame: unknown) => {
      await opened;
      socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
    },
    /** Waits for the first frame (from index `from`) that matches. */
    async frame(match: (f: Frame) => boolean, from = 0): Promise<Frame> {
      await until(async () => frames.slice(from).find(match), (f) => f !== undefined, 20_000);
      return frames.slice(from).find(match)!;
    },
    async closedWith(): Promise<{ code: number; reason: string }> {
      await until(async () => closed, (c) => c !== null, 20_000);
      return closed!;
    },
  };
}

describe('the graphql-ws server', () => {
  let t: TestKefu;
  let url: string;
  let supervisor: string;
  let agent: { id: string; token: string };
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite', listen: true });
    url = `ws://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}/graphql`;
    const seeded = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }, { name: 'Sue', login: 'sue', role: 'SUPERVISOR' }] });
    agent = seeded.agents[0]!;
    supervisor = seeded.agents[1]!.token;
  });
  afterAll(async () => t?.close());

  const statusQuery = 'subscription($agentId: ID) { agentStatusChanged(agentId: $agentId) { agent { id } presence } }';

  it('acks an authenticated connection, answers ping with pong, and streams a subscription until the client completes it', async () => {
    const c = connect(url, 'graphql-transport-ws');
    await c.send({ type: 'connection_init', payload: { authorization: `Bearer ${supervisor}` } });
    await c.frame((f) => f.type === 'connection_ack');
    await c.send({ type: 'ping', payload: { n: 1 } });
    expect(await c.frame((f) => f.type === 'pong')).toEqual({ type: 'pong', payload: { n: 1 } });

    await c.send({ type: 'subscribe', id: 's1', payload: { query: statusQuery, variables: { agentId: agent.id } } });
    // The current state first, then each change.
    const first = await c.frame((f) => f.type === 'next' && f.id === 's1');
    expect(first.payload).toEqual({ data: { agentStatusChanged: { agent: { id: agent.id }, presence: 'OFFLINE' } } });
    const seen = c.frames.length;
    await t.ok(agent.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const change = await c.frame((f) => f.type === 'next' && f.id === 's1', seen);
    expect(change.payload).toEqual({ data: { agentStatusChanged: { agent: { id: agent.id }, presence: 'AVAILABLE' } } });

    // Completed by the client: no more frames for it, and no complete echoed back.
    await c.send({ type: 'complete', id: 's1' });
    await c.send({ type: 'ping' });
    const afterComplete = c.frames.length;
    await c.frame((f) => f.type === 'pong', afterComplete - 1);
    await t.ok(agent.token, 'mutation { setPresence(input: { presence: OFFLINE }) { id } }');
    // A new subscription on the same connection sees that change; the completed one never does.
    await c.send({ type: 'subscribe', id: 's2', payload: { query: statusQuery, variables: { agentId: agent.id } } });
    await c.frame((f) => f.type === 'next' && f.id === 's2');
    expect(c.frames.filter((f) => f.id === 's1' && c.frames.indexOf(f) >= afterComplete)).toEqual([]);
    c.socket.close();
  });

  it('sends a first result whose resolver fails as a next frame with the domain error code, not an internal error', async () => {
    // A live view's first result is executed by the fan-out with Kefu's own context (no mercurius reply):
    // formatting its errors once crashed there and turned NOT_FOUND into INTERNAL_SERVER_ERROR (found by the fuzzer).
    const c = connect(url, 'graphql-transport-ws');
    await c.send({ type: 'connection_init', payload: { authorization: `Bearer ${supervisor}` } });
    await c.frame((f) => f.type === 'connection_ack');
    const query = 'subscription($c: ID!) { queuePositionChanged(contactId: $c) { position } }';
    await c.send({ type: 'subscribe', id: 'q1', payload: { query, variables: { c: 'd4425496-b253-41ff-be04-67b1ed362c58' } } });
    const answer = await c.frame((f) => (f.type === 'next' || f.type === 'error') && f.id === 'q1');
    const errors = answer.type === 'error' ? (answer.payload as { extensions?: { code?: string } }[]) : (answer.payload as { errors: { extensions?: { code?: string } }[] }).errors;
    expect(errors.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
    c.socket.close();
  });

  it('serves the legacy graphql-ws sub-protocol (start, data, stop)', async () => {
    const c = connect(url, 'graphql-ws');
    await c.send({ type: 'connection_init', payload: { authorization: `Bearer ${supervisor}` } });
    await c.frame((f) => f.type === 'connection_ack');
    await c.send({ type: 'start', id: '1', payload: { query: statusQuery, variables: { agentId: agent.id } } });
    const first = await c.frame((f) => f.type === 'data' && f.id === '1');
    expect((first.payload as { data: unknown }).data).toBeTruthy();
    await c.send({ type: 'stop', id: '1' });
    c.socket.close();
  });

  it('refuses a bad token with 4403, a subscribe before connection_init with 4401, and a connection without a graphql-ws sub-protocol with 1002', async () => {
    const bad = connect(url, 'graphql-transport-ws');
    await bad.send({ type: 'connection_init', payload: { authorization: 'Bearer not-a-token' } });
    expect((await bad.closedWith()).code).toBe(4403);

    const early = connect(url, 'graphql-transport-ws');
    await early.send({ type: 'subscribe', id: '1', payload: { query: statusQuery } });
    expect((await early.closedWith()).code).toBe(4401);

    // No graphql-ws sub-protocol asked for (a client asking only for others gets no sub-protocol back, and ws
    // clients drop such a handshake themselves).
    const none = connect(url, null);
    expect((await none.closedWith()).code).toBe(1002);

    // Only /graphql upgrades.
    const elsewhere = new WebSocket(url.replace('/graphql', '/elsewhere'), 'graphql-transport-ws');
    expect((await new Promise<Error>((resolve) => elsewhere.once('error', resolve))).message).toMatch(/404/);
  });

  it('answers what cannot start with an error frame whose errors carry codes, and keeps the connection', async () => {
    const c = connect(url, 'graphql-transport-ws');
    await c.send({ type: 'connection_init', payload: { authorization: `Bearer ${agent.token}` } });
    await c.frame((f) => f.type === 'connection_ack');
    const cases: [string, unknown, RegExp][] = [
      ['syntax', { query: 'subscription {' }, /Syntax Error/],
      ['invalid', { query: 'subscription { agentStatusChanged { noSuchField } }' }, /noSuchField/],
      ['query', { query: 'query { me { __typename } }' }, /Only subscriptions/],
      ['not text', { query: 42 }, /GraphQL text/],
      ['variables', { query: statusQuery, variables: 'x' }, /Variables must be an object/],
      ['bad variable', { query: statusQuery, variables: { agentId: 'not-a-uuid' } }, /agentId/],
      ['forbidden', { query: statusQuery, variables: { agentId: '00000000-0000-4000-8000-000000000000' } }, /supervisors/],
    ];
    for (const [id, payload] of cases) await c.send({ type: 'subscribe', id, payload });
    await c.send('not json');
    for (const [id, , message] of cases) {
      const error = await c.frame((f) => f.type === 'error' && f.id === id);
      const errors = error.payload as { message: string; extensions?: { code?: string } }[];
      expect(errors.length, id).toBeGreaterThan(0);
      expect(errors.map((e) => e.message).join(' '), id).toMatch(message);
      for (const e of errors) expect(e.extensions?.code, `${id}: ${e.message}`).toMatch(/^(BAD_USER_INPUT|FORBIDDEN)$/);
    }
    const notJson = await c.frame((f) => f.type === 'error' && f.id === undefined);
    expect((notJson.payload as { extensions: { code: string } }[])[0]!.extensions.code).toBe('BAD_USER_INPUT');
    expect(c.closed).toBeNull();

    // A second subscription with an id still running closes the connection (4409), as the protocol says.
    await c.send({ type: 'subscribe', id: 'dup', payload: { query: statusQuery } });
    await c.frame((f) => f.type === 'next' && f.id === 'dup');
    await c.send({ type: 'subscribe', id: 'dup', payload: { query: statusQuery } });
    expect((await c.closedWith()).code).toBe(4409);
  });
});
