// The live fan-out writes a shared frame's bytes straight to each TCP socket (live-fanout.ts, rawTransport):
// every frame must be byte for byte what ws itself would have sent (ws's Sender.frame), whatever the id (JSON
// escapes, non-ASCII), the payload's length (each of the three length encodings), the sub-protocol, and
// whether the frame is one shared whole (the first few prefixes of a payload) or the subscriber's header and
// prefix before the payload's shared bytes. Clients here are raw TCP sockets that keep every byte.
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { buildSchema, parse, subscribe, type GraphQLFieldConfig } from 'graphql';
import { afterEach, describe, expect, it } from 'vitest';
import * as ws from 'ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { InProcessBus } from '../../src/adapters/bus/in-process-bus.ts';
import { LiveFanout, liveSubscription, type LiveSocket } from '../../src/api/live-fanout.ts';
import { until } from '../support/until.ts';

/** A WebSocket client on a bare TCP socket: the handshake by hand, then every byte the server sends. */
async function rawClient(port: number, protocol: string): Promise<{ tcp: Socket; bytes: () => Buffer }> {
  const tcp = connect(port, '127.0.0.1');
  await once(tcp, 'connect');
  tcp.write(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
  );
  let received = Buffer.alloc(0);
  tcp.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
  await until(async () => received.indexOf('\r\n\r\n'), (i) => i >= 0, 20_000);
  const head = received.indexOf('\r\n\r\n') + 4;
  expect(received.subarray(0, head).toString()).toMatch(/^HTTP\/1\.1 101 /);
  return { tcp, bytes: () => received.subarray(head) };
}

/** Splits a server's byte stream into whole frames (unmasked, as a server sends them). */
function framesOf(bytes: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    let length = bytes[at + 1]! & 0x7f;
    let header = 2;
    if (length === 126) {
      length = bytes.readUInt16BE(at + 2);
      header = 4;
    } else if (length === 127) {
      length = Number(bytes.readBigUInt64BE(at + 2));
      header = 10;
    }
    if (at + header + length > bytes.length) break;
    frames.push(bytes.subarray(at, at + header + length));
    at += header + length;
  }
  return frames;
}

/** ws's framer (exported at run time, not in its types). */
const { Sender } = ws as unknown as { Sender: { frame(data: Buffer, options: object): Uint8Array[] } };

/** What ws would put on the wire for this text, from a server. */
function wsFrame(text: string): Buffer {
  return Buffer.concat(Sender.frame(Buffer.from(text), { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }).map((b) => Buffer.from(b)));
}

const schema = buildSchema('type Query { ok: Boolean } type Subscription { tick: Tick } type Tick { n: Int text: String }');

/** A fan-out on an in-process bus, with `tick` subscribed to the topic 'ticks', and the subscription's document. */
function tickFanout(): { bus: InProcessBus; fanout: LiveFanout; document: ReturnType<typeof parse> } {
  const bus = new InProcessBus();
  const fanout = new LiveFanout(bus, { formatErrors: () => ({ response: null }) });
  const tick = schema.getSubscriptionType()!.getFields().tick as unknown as GraphQLFieldConfig<unknown, unknown>;
  tick.subscribe = liveSubscription((_root, _args, ctx: { live: LiveFanout }) => ctx.live.topics.subscribe('ticks')) as GraphQLFieldConfig<unknown, unknown>['subscribe'];
  tick.resolve = (payload: unknown) => payload;
  return { bus, fanout, document: parse('subscription { tick { n text } }') };
}

describe('live fan-out frames on the wire', () => {
  const closing: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of closing.splice(0).reverse()) await c();
  });

  async function setup(clients: { protocol: string }[]) {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, handleProtocols: (offered) => [...offered][0] ?? false });
    closing.push(() => new Promise((r) => server.close(r)));
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const connected: { client: Awaited<ReturnType<typeof rawClient>>; socket: WebSocket }[] = [];
    for (const { protocol } of clients) {
      const accepted = once(server, 'connection') as Promise<[WebSocket]>;
      const client = await rawClient(port, protocol);
      closing.push(async () => client.tcp.destroy());
      const [socket] = await accepted;
      connected.push({ client, socket });
    }
    return connected;
  }

  it('writes shared frames byte-identical to ws, for any id, length and sub-protocol, and each subscription of a socket its own', async () => {
    const oddIds = ['a"b\\c', 'line\nbreak\u2028x', 'é中文😀', '</script>', '\u0000\u001f'];
    const plan: { protocol: string; ids: string[] }[] = [
      ...Array.from({ length: 12 }, () => ({ protocol: 'graphql-transport-ws', ids: ['1'] })),
      ...oddIds.map((id) => ({ protocol: 'graphql-transport-ws', ids: [id] })),
      ...Array.from({ length: 10 }, (_, i) => ({ protocol: 'graphql-transport-ws', ids: [`uuid-${i}-${'x'.repeat(i * 30)}`] })),
      { protocol: 'graphql-ws', ids: ['1'] },
      // One socket, two subscriptions of the same view: each gets the frame with its own id.
      { protocol: 'graphql-transport-ws', ids: ['first', 'second'] },
    ];
    const connected = await setup(plan);
    const { bus, fanout, document } = tickFanout();
    const iterators: AsyncIterator<unknown>[] = [];
    for (let k = 0; k < plan.length; k++) {
      for (const id of plan[k]!.ids) {
        const contextValue = { principal: null, live: fanout, liveSocket: connected[k]!.socket as unknown as LiveSocket, id };
        const result = await subscribe({ schema, document, contextValue });
        expect(Symbol.asyncIterator in result).toBe(true);
        iterators.push((result as AsyncIterable<unknown>)[Symbol.asyncIterator]());
      }
    }
    closing.push(async () => Promise.all(iterators.map((i) => i.return?.())));

    // Payload lengths in each of the three encodings: under 126 bytes, up to 65,535, and over.
    const texts = ['short', 'medium é'.repeat(40), 'long 中'.repeat(14_000), 'x'.repeat(65_535 - 80)];
    for (let n = 0; n < texts.length; n++) await bus.publish('ticks', { n, text: texts[n] });

    const expected = (protocol: string, id: string, n: number) =>
      wsFrame(`{"type":"${protocol === 'graphql-ws' ? 'data' : 'next'}","id":${JSON.stringify(id)},"payload":${JSON.stringify({ data: { tick: { n, text: texts[n] } } })}}`);
    const want = plan.map((p) => p.ids.length * texts.length);
    await until(async () => connected.map((c) => framesOf(c.client.bytes()).length), (got) => got.every((g, k) => g >= want[k]!), 60_000);

    for (let k = 0; k < plan.length; k++) {
      const frames = framesOf(connected[k]!.client.bytes());
      expect(frames).toHaveLength(want[k]!);
      // Nothing after the last whole frame.
      expect(frames.reduce((sum, f) => sum + f.length, 0)).toBe(connected[k]!.client.bytes().length);
      for (const id of plan[k]!.ids) {
        const mine = frames.filter((f) => (JSON.parse(f.subarray(f[1]! === 126 ? 4 : f[1]! === 127 ? 10 : 2).toString()) as { id: string }).id === id);
        expect(mine).toHaveLength(texts.length);
        mine.forEach((frame, n) => expect(frame.equals(expected(plan[k]!.protocol, id, n)), `${JSON.stringify(id)} message ${n}`).toBe(true));
      }
    }
    // One execution per message for everyone, and every frame went by the raw path.
    expect(fanout.counts.executions).toBe(texts.length);
    expect(fanout.counts.rawFrames).toBe(want.reduce((a, b) => a + b, 0));
    expect(fanout.counts.frames).toBe(fanout.counts.rawFrames);
  }, 120_000);

  it('writes a socket\'s later frames of one slice together: two writes for a burst of ten, every frame in order', async () => {
    const [c, other] = await setup([{ protocol: 'graphql-transport-ws' }, { protocol: 'graphql-transport-ws' }]);
    const { bus, fanout, document } = tickFanout();
    const iterators: AsyncIterator<unknown>[] = [];
    // The first socket with two subscriptions, the other with one.
    for (const [socket, id] of [[c!.socket, 'a'], [c!.socket, 'b'], [other!.socket, 'a']] as const) {
      const result = await subscribe({ schema, document, contextValue: { principal: null, live: fanout, liveSocket: socket as unknown as LiveSocket, id } });
      iterators.push((result as AsyncIterable<unknown>)[Symbol.asyncIterator]());
    }
    closing.push(async () => Promise.all(iterators.map((i) => i.return?.())));
    await bus.publish('ticks', { n: 0, text: 'first' });
    await until(async () => framesOf(other!.client.bytes()).length, (n) => n === 1, 20_000);
    await until(async () => framesOf(c!.client.bytes()).length, (n) => n === 2, 20_000);
    // Each write the TCP sockets under ws make from now on (one system call each).
    const writesOf = (socket: unknown) => {
      const tcp = (socket as { _socket: { _write: (...a: unknown[]) => unknown; _writev: (...a: unknown[]) => unknown } })._socket;
      const counted = { writes: 0 };
      const [write, writev] = [tcp._write, tcp._writev];
      tcp._write = (...a: unknown[]) => (counted.writes++, write.apply(tcp, a));
      tcp._writev = (...a: unknown[]) => (counted.writes++, writev.apply(tcp, a));
      return counted;
    };
    const [mine, theirs] = [writesOf(c!.socket), writesOf(other!.socket)];
    const grouped = fanout.counts.groupedFrames;
    // Ten messages in one turn: twenty frames to the first socket, ten to the other, in one slice.
    for (let n = 1; n <= 10; n++) void bus.publish('ticks', { n, text: `message ${n}` });
    await until(async () => framesOf(c!.client.bytes()).length, (n) => n === 22, 20_000);
    await until(async () => framesOf(other!.client.bytes()).length, (n) => n === 11, 20_000);
    // The first frame at once, the others of the slice in one writev after it.
    expect(mine.writes).toBe(2);
    expect(theirs.writes).toBe(2);
    expect(fanout.counts.groupedFrames - grouped).toBe(19 + 9);
    const frame = (id: string, n: number) => wsFrame(`{"type":"next","id":"${id}","payload":${JSON.stringify({ data: { tick: { n, text: n === 0 ? 'first' : `message ${n}` } } })}}`);
    const ns = Array.from({ length: 11 }, (_, n) => n);
    expect(Buffer.concat(framesOf(c!.client.bytes())).equals(Buffer.concat(ns.flatMap((n) => [frame('a', n), frame('b', n)])))).toBe(true);
    expect(Buffer.concat(framesOf(other!.client.bytes())).equals(Buffer.concat(ns.map((n) => frame('a', n))))).toBe(true);
    // Nothing left corked: a frame written later goes out.
    await fanout.write(c!.socket as unknown as LiveSocket, 'after');
    await until(async () => framesOf(c!.client.bytes()).length, (n) => n === 23, 20_000);
    expect(framesOf(c!.client.bytes())[22]!.equals(wsFrame('after'))).toBe(true);
  }, 60_000);

  it('sends through ws when a frame cannot go straight to the socket (the sender busy), and keeps each socket in order', async () => {
    const [c] = await setup([{ protocol: 'graphql-transport-ws' }]);
    const fanout = new LiveFanout(new InProcessBus(), { formatErrors: () => ({ response: null }) });
    const socket = c!.socket as unknown as LiveSocket & { _sender: { _state: number } };
    await fanout.write(socket, 'one');
    // ws's sender compressing or reading a Blob: its queue decides the order, so Kefu goes through ws.
    socket._sender._state = 1;
    const sent: string[] = [];
    const send = socket.send.bind(socket);
    socket.send = (data: string, cb?: (err?: Error) => void) => {
      sent.push(data);
      socket._sender._state = 0;
      send(data, cb);
    };
    await fanout.write(socket, 'two');
    await fanout.write(socket, 'three');
    expect(sent).toEqual(['two']);
    expect(fanout.counts).toMatchObject({ frames: 3, rawFrames: 2 });
    await until(async () => framesOf(c!.client.bytes()).length, (n) => n === 3, 20_000);
    expect(Buffer.concat(framesOf(c!.client.bytes())).equals(Buffer.concat(['one', 'two', 'three'].map(wsFrame)))).toBe(true);
  }, 60_000);
});
