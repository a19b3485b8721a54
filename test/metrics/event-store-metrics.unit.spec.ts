// The event store as metrics see it: appends counted by category and result, a concurrency conflict as
// "conflict", events and offers counted, everything else passed through to the store unchanged.
import { describe, expect, it } from 'vitest';
import { KefuMetrics } from '../../src/adapters/observability/metrics.ts';
import { WrongExpectedRevisionError, type EventStore, type NewEvent } from '../../src/domain/ports/event-store.ts';

const event = (type: string): NewEvent => ({ id: crypto.randomUUID(), type, data: {}, metadata: { instanceId: 'i', actor: 'test', correlationId: 'c', causationId: null, occurredAt: new Date().toISOString() } });

function fakeStore(): EventStore & { revision: number } {
  return {
    name: 'fake',
    revision: -1,
    async appendToStream(streamId, events, options) {
      if (options.expectedRevision !== 'any' && options.expectedRevision !== this.revision) throw new WrongExpectedRevisionError(streamId, options.expectedRevision, this.revision);
      if (events.some((e) => e.type === 'Broken')) throw new Error('disk full');
      this.revision += events.length;
      return { nextExpectedRevision: this.revision, position: { commit: 1n, prepare: 1n } } as never;
    },
    readStream: async () => [],
    readAll: async () => [],
    subscribeToAll: () => ({ stop: async () => undefined }) as never,
    headPosition: async () => null,
    close: async () => undefined,
  };
}

describe('event store metrics', () => {
  it('counts appends by category and result, events, offers; conflicts apart', async () => {
    const metrics = new KefuMetrics({ token: 'unit-test-token-0123', defaultMetrics: false });
    const inner = fakeStore();
    const store = metrics.instrumentEventStore(inner);
    await store.appendToStream('contact-i.1', [event('ContactCreated'), event('ContactOffered')], { expectedRevision: 'any' });
    await expect(store.appendToStream('contact-i.1', [event('ContactQueued')], { expectedRevision: 0 })).rejects.toBeInstanceOf(WrongExpectedRevisionError);
    await expect(store.appendToStream('agent-i.2', [event('Broken')], { expectedRevision: 'any' })).rejects.toThrow('disk full');
    expect(store.name).toBe('fake');
    expect(await store.headPosition()).toBeNull();

    const text = await metrics.registry.metrics();
    expect(text).toContain('kefu_event_store_appends_total{category="contact",result="ok"} 1');
    expect(text).toContain('kefu_event_store_appends_total{category="contact",result="conflict"} 1');
    expect(text).toContain('kefu_event_store_appends_total{category="agent",result="error"} 1');
    expect(text).toContain('kefu_event_store_events_appended_total{category="contact"} 2');
    expect(text).toContain('kefu_router_offers_total 1');
    expect(text).toContain('kefu_event_store_append_duration_seconds_count{category="contact"} 2');
  });
});
