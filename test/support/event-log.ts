// Recorded events made by hand for projection specs: each stream's revisions counted from 0, one global position
// per event, and the clock 40 s on at each event (its occurredAt). `reset` starts the log over.
import type { RecordedEvent } from '../../src/domain/ports/event-store.ts';
import { randomUUID } from 'node:crypto';

export class EventLog {
  readonly revisions = new Map<string, number>();
  /** The last event's time (ms); the next event is 40 s later. */
  at: number;
  position = 0;

  readonly instanceId: string;
  private readonly start: string;

  constructor(instanceId: string, start = '2026-03-10T09:00:00Z') {
    this.instanceId = instanceId;
    this.start = start;
    this.at = Date.parse(start);
  }

  readonly event = (streamId: string, type: string, data: Record<string, unknown> = {}): RecordedEvent => {
    const revision = this.revisions.get(streamId) ?? 0;
    this.revisions.set(streamId, revision + 1);
    this.at += 40_000;
    this.position++;
    return {
      id: randomUUID(),
      streamId,
      revision,
      type,
      data,
      position: { commit: BigInt(this.position), prepare: BigInt(this.position) },
      metadata: { instanceId: this.instanceId, occurredAt: new Date(this.at).toISOString() },
    } as RecordedEvent;
  };

  reset(): void {
    this.revisions.clear();
    this.at = Date.parse(this.start);
    this.position = 0;
  }
}
