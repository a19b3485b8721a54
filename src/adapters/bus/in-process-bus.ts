import type { Bus } from '../../domain/ports/bus.ts';

export class InProcessBus implements Bus {
  readonly name = 'in-process';
  private readonly topics = new Map<string, Set<(message: unknown) => void>>();

  async publish(topic: string, message: unknown): Promise<void> {
    // A copy, as NATS would deliver one: no subscriber can change what another sees.
    const text = JSON.stringify(message);
    for (const handler of [...(this.topics.get(topic) ?? [])]) handler(JSON.parse(text));
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
