// mercurius 16 reads each graphql-ws connection's frames with `for await (... of events.on(socket, 'message'))`.
// events.on() allocates two 2048-slot queues, about 35 KB per connection, whether the client ever sends
// another frame or not: more than half of an idle live view's memory. The same loop as a chain of promises
// (frames still handled one at a time, in order; a failing frame logged and the connection closed, as before)
// costs a few hundred bytes. This is the change we propose upstream; drop this file once mercurius has it.
// It is applied to the class mercurius uses for every connection, once, before the first connection.
import { createRequire } from 'node:module';

interface Connection {
  socket: { on(event: 'message', listener: (message: unknown, isBinary: boolean) => void): void };
  fastify: { log: { error(err: unknown): void } };
  handleMessage(message: unknown, isBinary: boolean): Promise<void>;
  handleConnectionClose(): void;
}

const require = createRequire(import.meta.url);

let applied = false;

export function lightenMercuriusConnections(): void {
  if (applied) return;
  applied = true;
  const { version } = require('mercurius/package.json') as { version: string };
  // Written against 16.x's SubscriptionConnection; another major may have changed the loop (or fixed it).
  if (!version.startsWith('16.')) return;
  const SubscriptionConnection = require('mercurius/lib/subscription-connection.js') as { prototype: { handleConnection(this: Connection): Promise<void> } };
  SubscriptionConnection.prototype.handleConnection = function (this: Connection) {
    let turn = Promise.resolve();
    this.socket.on('message', (message, isBinary) => {
      turn = turn
        .then(() => this.handleMessage(message, isBinary))
        .catch((err: unknown) => {
          this.fastify.log.error(err);
          this.handleConnectionClose();
        });
    });
    return turn;
  };
}
