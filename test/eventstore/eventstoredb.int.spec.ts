// The EventStoreDB adapter: the conformance suite against a live server when EVENTSTORE_URL is set
// (e.g. esdb://localhost:2113?tls=false), and always the pure mapping between the port and the client.
import { END, START, StreamNotFoundError, WrongExpectedVersionError } from '@eventstore/db-client';
import { describe, expect, it } from 'vitest';
import {
  EventStoreDbEventStore,
  fromEsdbCurrentRevision,
  isStreamNotFound,
  isSystemEvent,
  toEsdbExpectedRevision,
  toEsdbReadPosition,
  toEsdbReadRevision,
  toPortError,
  toRecordedEvent,
} from '../../src/adapters/eventstore/eventstoredb/eventstoredb-event-store.ts';
import { WrongExpectedRevisionError } from '../../src/domain/ports/event-store.ts';
import { eventStoreConformance } from './conformance.ts';

const url = process.env.EVENTSTORE_URL;
if (url) {
  eventStoreConformance('EventStoreDB', async () => {
    const store = new EventStoreDbEventStore(url);
    return { store, dispose: () => store.close() };
  });
}

describe('EventStoreDB adapter: mapping between the port and the client', () => {
  it('maps expected revisions', () => {
    expect(toEsdbExpectedRevision('any')).toBe('any');
    expect(toEsdbExpectedRevision('no_stream')).toBe('no_stream');
    expect(toEsdbExpectedRevision('stream_exists')).toBe('stream_exists');
    expect(toEsdbExpectedRevision(0)).toBe(0n);
    expect(toEsdbExpectedRevision(41)).toBe(41n);
    expect(() => toEsdbExpectedRevision(-1)).toThrow(RangeError);
    expect(() => toEsdbExpectedRevision(1.5)).toThrow(RangeError);
  });

  it('maps the actual revision of a conflict', () => {
    expect(fromEsdbCurrentRevision('no_stream')).toBe('no_stream');
    expect(fromEsdbCurrentRevision(-1n)).toBe('no_stream');
    expect(fromEsdbCurrentRevision(0n)).toBe(0);
    expect(fromEsdbCurrentRevision(7n)).toBe(7);
  });

  it('turns the client wrong-expected-version error into the port one, and leaves other errors alone', () => {
    const conflict = toPortError(
      new WrongExpectedVersionError(undefined, { streamName: 's-1', expected: 0n, current: 3n }),
      's-1',
      0,
    );
    expect(conflict).toBeInstanceOf(WrongExpectedRevisionError);
    expect(conflict).toMatchObject({ streamId: 's-1', expected: 0, actual: 3 });
    const missing = toPortError(
      new WrongExpectedVersionError(undefined, { streamName: 's-2', expected: 'stream_exists', current: 'no_stream' }),
      's-2',
      'stream_exists',
    );
    expect(missing).toMatchObject({ streamId: 's-2', expected: 'stream_exists', actual: 'no_stream' });
    const other = new Error('boom');
    expect(toPortError(other, 's-1', 'any')).toBe(other);
    expect(isStreamNotFound(new StreamNotFoundError(undefined, 's-3'))).toBe(true);
    expect(isStreamNotFound(other)).toBe(false);
  });

  it('maps positions and revisions to read from', () => {
    expect(toEsdbReadPosition(null)).toBe(START);
    expect(toEsdbReadPosition(undefined)).toBe(START);
    expect(toEsdbReadPosition({ commit: 1234n, prepare: 1200n })).toEqual({ commit: 1234n, prepare: 1200n });
    expect(toEsdbReadRevision(undefined, 'forwards')).toBe(START);
    expect(toEsdbReadRevision(undefined, 'backwards')).toBe(END);
    expect(toEsdbReadRevision(2, 'forwards')).toBe(2n);
    expect(toEsdbReadRevision(0, 'backwards')).toBe(0n);
    expect(() => toEsdbReadRevision(-1, 'forwards')).toThrow(RangeError);
  });

  it('tells system events from ours', () => {
    expect(isSystemEvent({ type: '$statsCollected', streamId: '$stats-127.0.0.1:2113' })).toBe(true);
    expect(isSystemEvent({ type: '$>', streamId: '$ce-conversation' })).toBe(true);
    expect(isSystemEvent({ type: '$metadata', streamId: '$$conversation-1' })).toBe(true);
    expect(isSystemEvent({ type: 'Anything', streamId: '$projections-x' })).toBe(true);
    expect(isSystemEvent({ type: 'ConversationOpened', streamId: 'conversation-1' })).toBe(false);
  });

  it('maps a recorded event, and refuses one without a position or not in JSON', () => {
    const metadata = { instanceId: 'i1', actor: 'test', correlationId: 'c', causationId: null, occurredAt: '2025-01-01T00:00:00.000Z' };
    const recorded = {
      streamId: 'conversation-1',
      id: '5b0f3c0e-8a4e-4a4e-9d1e-0d6a4c1f2b3a',
      isJson: true as const,
      revision: 4n,
      type: 'ConversationOpened',
      created: new Date(0),
      data: { channel: 'voice' },
      metadata,
      position: { commit: 900n, prepare: 850n },
    };
    expect(toRecordedEvent(recorded)).toEqual({
      id: recorded.id,
      streamId: 'conversation-1',
      revision: 4,
      type: 'ConversationOpened',
      data: { channel: 'voice' },
      metadata,
      position: { commit: 900n, prepare: 850n },
    });
    expect(() => toRecordedEvent({ ...recorded, position: undefined })).toThrow(/position/);
    expect(() =>
      toRecordedEvent({ ...recorded, isJson: false as const, data: new Uint8Array([1]), metadata: undefined }),
    ).toThrow(/not JSON/);
  });
});
