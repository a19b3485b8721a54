// A subscriber that stops reading is cut off (close code 1013) while the others keep receiving, and it cannot
// make Kefu buffer more than the bound: the live fan-out's writer over real WebSockets on 127.0.0.1.
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { LiveFanout, slowConsumerCloseCode, type LiveSocket } from '../../src/api/live-fanout.ts';
import { InProcessBus } from '../../src/adapters/bus/in-process-bus.ts';
import { until } from '../support/until.ts';

describe('live fan-out and a slow consumer', () => {
  const closing: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    // Clients first: the server's close waits for its connections.
    for (const c of closing.splice(0).reverse()) await c();
  });

  it('closes the subscriber that stopped reading and keeps writing to the others', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    closing.push(() => new Promise((r) => server.close(r)));
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const serverSockets: WebSocket[] = [];
    server.on('connection', (s) => serverSockets.push(s));

    const maxUnreadBytes = 256 * 1024;
    const fanout = new LiveFanout(new InProcessBus(), { maxUnreadBytes, formatErrors: () => ({ response: null }) });
    const clients = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const c = new WebSocket(`ws://127.0.0.1:${port}`);
        closing.push(async () => c.terminate());
        await once(c, 'open');
        let frames = 0;
        c.on('message', () => frames++);
        return { c, frames: () => frames };
      }),
    );
    await until(async () => serverSockets.length, (n) => n === clients.length);
    // The first client stops reading: its TCP window fills, then the server's socket buffer.
    const slow = clients[0]!;
    (slow.c as unknown as { _socket: { pause(): void } })._socket.pause();
    const closed = new Promise<number>((resolve) => slow.c.on('close', (code) => resolve(code)));

    const frame = JSON.stringify({ type: 'next', id: '1', payload: { data: { x: 'x'.repeat(64 * 1024) } } });
    let largestUnread = 0;
    const rounds = 300; // 19 MB to each: more than loopback socket buffers hold
    for (let i = 0; i < rounds; i++) {
      await Promise.all(serverSockets.map((s) => fanout.write(s as unknown as LiveSocket, frame)));
      largestUnread = Math.max(largestUnread, ...serverSockets.map((s) => s.bufferedAmount));
    }
    expect(serverSockets[0]!.readyState).not.toBe(WebSocket.OPEN);
    expect(fanout.counts.slowConsumersClosed).toBe(1);
    // Never much more than the bound (one frame over it at most) is held for the slow one.
    expect(largestUnread).toBeLessThanOrEqual(maxUnreadBytes + frame.length + 1024);
    // The others received every frame.
    await until(async () => clients.slice(1).map((c) => c.frames()), (counts) => counts.every((n) => n === rounds), 60_000);
    // Once it reads again, it learns why it was closed (or the connection was dropped after the grace period).
    (slow.c as unknown as { _socket: { resume(): void } })._socket.resume();
    expect([slowConsumerCloseCode, 1006]).toContain(await closed);
  }, 120_000);
});
