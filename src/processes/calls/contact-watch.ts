// Contact events for the calls this node holds. One catch-up subscription from the head at start-up feeds
// every local call session, so a session learns of offers, timeouts and ends made by the router or the API
// on any process. Reading the store (not the bus) means no event is missed while NATS reconnects.
import type { EventStore, RecordedEvent, Subscription } from '../../domain/ports/event-store.ts';

export type ContactListener = (event: RecordedEvent) => void;

export class ContactWatch {
  private readonly store: EventStore;
  private readonly listeners = new Map<string, ContactListener>();
  private subscription: Subscription | null = null;

  constructor(store: EventStore) {
    this.store = store;
  }

  async start(onError: (err: unknown) => void): Promise<void> {
    const head = await this.store.headPosition();
    let live!: () => void;
    const caughtUp = new Promise<void>((resolve) => (live = resolve));
    this.subscription = this.store.subscribeToAll({
      after: head,
      onEvent: (e) => {
        if (e.streamId.startsWith('contact-')) this.listeners.get(e.streamId)?.(e);
      },
      onCaughtUp: () => live(),
      onError,
    });
    await caughtUp;
  }

  /** Calls `listener` with each new event of one contact stream until the returned function is called. */
  watch(streamId: string, listener: ContactListener): () => void {
    this.listeners.set(streamId, listener);
    return () => {
      if (this.listeners.get(streamId) === listener) this.listeners.delete(streamId);
    };
  }

  async stop(): Promise<void> {
    await this.subscription?.stop();
    this.subscription = null;
    this.listeners.clear();
  }
}
