import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Bus } from '../../domain/ports/bus.ts';

/** Core NATS pub/sub: every Kefu process subscribed to a topic gets each message once. */
export class NatsBus implements Bus {
  readonly name = 'nats';
  private readonly nc: NatsConnection;

  private constructor(nc: NatsConnection) {
    this.nc = nc;
  }

  static async connect(url: string, name = 'kefu'): Promise<NatsBus> {
    const nc = await connect({ servers: url.split(','), name, maxReconnectAttempts: -1 });
    return new NatsBus(nc);
  }

  async publish(topic: string, message: unknown): Promise<void> {
    this.nc.publish(topic, JSON.stringify(message));
  }

  async subscribe(topic: string, onMessage: (message: unknown) => void): Promise<() => Promise<void>> {
    const sub = this.nc.subscribe(topic, {
      callback: (err, msg) => {
        if (err) return;
        onMessage(msg.json());
      },
    });
    // The subscription is live once the server has it; a flush round-trip makes sure.
    await this.nc.flush();
    return async () => {
      sub.unsubscribe();
    };
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => undefined);
  }
}
