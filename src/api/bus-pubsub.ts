// mercurius's PubSub backed by the live bus, so that a subscriber on one Kefu process sees changes that
// another process's projections published (NATS), or this process's own (in-process bus).
import type { Bus } from '../domain/ports/bus.ts';

interface SubscriptionQueue {
  push(value: unknown): void;
  close?: () => void;
}

export class BusPubSub {
  private readonly bus: Bus;
  constructor(bus: Bus) {
    this.bus = bus;
  }

  async subscribe(topic: string, queue: SubscriptionQueue): Promise<void> {
    let open = true;
    const unsubscribe = await this.bus.subscribe(topic, (message) => {
      // A message that arrives after the subscription closed is dropped.
      if (open) queue.push(message);
    });
    queue.close = () => {
      open = false;
      void unsubscribe();
    };
  }

  publish(event: { topic: string; payload: unknown }, callback: (err?: Error) => void): void {
    this.bus.publish(event.topic, event.payload).then(() => callback(), callback);
  }
}
