import type { Bus } from '../../domain/ports/bus.ts';

export class InProcessBus implements Bus {
  readonly name = 'in-process';
  private readonly topics = new Map<string, Set<(message: unknown) => void>>();

  async publish(topic: string, message: unknown): Promise<void> {
    const handlers = this.topics.get(topic);
    // Nobody listening (a projection catching up, say): nothing to copy.
    if (!handlers || handlers.size === 0) return;
    // A copy, as NATS would deliver one: no subscriber can change what another sees.
    const text = JSON.stringify(message);
    for (const handler of [...handlers]) handler(JSON.parse(text));
  }

  async subscribe(topic: string, onMessage: (message: unknown) => void): Promise<() => Promise<void>> {
    let set = this.topics.get(topic);
    if (!set) {
      set = new Set();
      this.topics.set(topic, set);
    }
    // Wrap so the same function subscribed twice counts twice.
    const handler = (m: unknown) => onMessage(m);
    set.add(handler);
    return async () => {
      set.delete(handler);
      if (set.size === 0) this.topics.delete(topic);
    };
  }

  async close(): Promise<void> {
    this.topics.clear();
  }
}
