// Parked parts of projections (issue 9): when a projection cannot apply an event, only that event's
// instance stops in that projection. Its later events for the projection are held: the checkpoint moves
// past them (they stay in the event store) and every other instance goes on. An operator retries the part
// after a fix, which replays the held events in order, from the one that failed, and unparks it.
import { sql, type Selectable } from 'kysely';
import type { Bus } from '../domain/ports/bus.ts';
import { ConflictError } from '../domain/errors.ts';
import type { EventStore, Position, RecordedEvent } from '../domain/ports/event-store.ts';
import { comparePositions, positionFromString, positionToString } from '../domain/ports/event-store.ts';
import type { Projection, ReadModel } from './projection.ts';
import type { ReadModelDb } from './read-model-db.ts';

export interface ParkedPart {
  projection: string;
  instanceId: string;
  /** Events of the instance after this position (null: all) are held for the projection. */
  heldAfter: Position | null;
  /** The event that could not be applied (on the last retry, if one failed). */
  eventId: string;
  eventType: string;
  streamId: string;
  eventPosition: Position;
  error: string;
  parkedAt: Date;
  /** When a retry last failed (its error is `error`), or null. */
  lastRetryAt: Date | null;
}

/** A command's read model is parked for its instance: what it appended is stored, but will not show until a retry. */
export class ReadModelParkedError extends ConflictError {
  readonly parts: ParkedPart[];
  constructor(parts: ParkedPart[]) {
    const names = [...new Set(parts.map((p) => p.projection))].join(', ');
    super(
      `The ${names} read model of this instance is parked since ${parts[0]!.parkedAt.toISOString()} after an event it could not apply; ` +
        'the change was saved and will show once the platform operator retries the parked part',
    );
    this.parts = parts;
  }
}

/** The instance whose part of a projection an event belongs to ('' for an event of no instance). */
export function instanceOfEvent(event: RecordedEvent): string {
  const id = (event.metadata as { instanceId?: unknown } | undefined)?.instanceId;
  return typeof id === 'string' ? id : '';
}

/**
 * Whether a failure says nothing about the event: the database or the connection failed, a deadlock, a
 * timeout. Such a batch is tried again from its checkpoint; any other failure parks the event's part.
 */
export function isTransientFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    // SQLSTATE classes: connection exception, transaction rollback (deadlock, serialization), insufficient
    // resources, operator intervention (statement timeout, shutdown), system error.
    if (/^(08|40|53|57|58)/.test(code)) return true;
    // Node's own: ECONNRESET, ECONNREFUSED, ETIMEDOUT, EPIPE ...
    if (/^E[A-Z]+$/.test(code)) return true;
  }
  return err instanceof Error && /connection terminated|connection error|not queryable|timeout exceeded when trying to connect|pool (has ended|is closed)|closed/i.test(err.message);
}

/** Text a PostgreSQL text column holds: no NUL, no lone surrogate, bounded. */
function storable(text: string, max: number): string {
  return text
    .slice(0, max)
    .replaceAll('\u0000', '\\0')
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

export function describeFailure(err: unknown): string {
  return storable(err instanceof Error ? err.message : String(err), 2000);
}

type ParkedRow = Selectable<ReadModelDb['kefu_projection_parked_parts']>;

function toParkedPart(row: ParkedRow): ParkedPart {
  return {
    projection: row.projection,
    instanceId: row.instance_id,
    heldAfter: row.resume_after ? positionFromString(row.resume_after) : null,
    eventId: row.event_id,
    eventType: row.event_type,
    streamId: row.stream_id,
    eventPosition: positionFromString(row.event_position),
    error: row.error,
    parkedAt: new Date(row.parked_at),
    lastRetryAt: row.last_retry_at === null ? null : new Date(row.last_retry_at),
  };
}

export async function listParkedParts(db: ReadModel, filter: { instanceId?: string; projections?: string[] } = {}): Promise<ParkedPart[]> {
  let q = db.selectFrom('kefu_projection_parked_parts').selectAll();
  if (filter.instanceId !== undefined) q = q.where('instance_id', '=', filter.instanceId);
  if (filter.projections) {
    if (filter.projections.length === 0) return [];
    q = q.where('projection', 'in', filter.projections);
  }
  const rows = await q.orderBy('parked_at').orderBy('projection').orderBy('instance_id').execute();
  return rows.map(toParkedPart);
}

/**
 * Parks `event`'s part of `projection` in one transaction with the checkpoint's move onto the event, if the
 * checkpoint is still `from`. Returns null when the checkpoint had moved elsewhere.
 */
export async function parkPart(db: ReadModel, projection: Projection, from: Position | null, event: RecordedEvent, err: unknown): Promise<ParkedPart | null> {
  const instanceId = storable(instanceOfEvent(event), 500);
  const now = new Date();
  const row: ParkedRow = {
    projection: projection.name,
    instance_id: instanceId,
    resume_after: from ? positionToString(from) : null,
    event_position: positionToString(event.position),
    event_id: storable(event.id, 500),
    event_type: storable(event.type, 500),
    stream_id: storable(event.streamId, 1000),
    error: describeFailure(err),
    parked_at: now,
    last_retry_at: null,
  };
  return db.transaction().execute(async (trx) => {
    const moved = await trx
      .updateTable('kefu_projection_checkpoints')
      .set({
        position: positionToString(event.position),
        updated_at: now,
        parked_instances: sql<string[]>`CASE WHEN ${instanceId} = ANY(parked_instances) THEN parked_instances ELSE array_append(parked_instances, ${instanceId}) END`,
      })
      .where('name', '=', projection.name)
      .where((eb) => (from === null ? eb('position', 'is', null) : eb('position', '=', positionToString(from))))
      .executeTakeFirst();
    if (moved.numUpdatedRows !== 1n) return null;
    await trx
      .insertInto('kefu_projection_parked_parts')
      .values(row)
      .onConflict((c) => c.columns(['projection', 'instance_id']).doUpdateSet({ ...row }))
      .execute();
    return toParkedPart(row);
  });
}

export type RetryOutcome =
  | { resumed: true; appliedEvents: number }
  | { resumed: false; part: ParkedPart };

class HeldEventFailed extends Error {
  readonly event: RecordedEvent;
  readonly failure: unknown;
  constructor(event: RecordedEvent, failure: unknown) {
    super(describeFailure(failure));
    this.event = event;
    this.failure = failure;
  }
}

/**
 * Replays a parked part's held events in order, from the one that failed, and unparks it in the same
 * transaction as the last of them; the checkpoint's row lock keeps the runner from moving it meanwhile. On a
 * failure the part stays parked with the new error. Returns null if the part is not parked.
 */
export async function retryParkedPart(deps: { store: EventStore; db: ReadModel; projection: Projection; instanceId: string; bus?: Bus }): Promise<RetryOutcome | null> {
  const { store, db, projection, instanceId } = deps;
  const row = await db.selectFrom('kefu_projection_parked_parts').selectAll().where('projection', '=', projection.name).where('instance_id', '=', instanceId).executeTakeFirst();
  if (!row) return null;
  let held: RecordedEvent[] = [];
  let readTo: Position | null = row.resume_after ? positionFromString(row.resume_after) : null;
  let appliedEvents = 0;
  // Events are read before each transaction (on PGlite the store's reads wait for it to end), up to the head
  // as it was when reading began, so that live appends cannot keep the read going. If the runner has moved
  // past what was read by the time the transaction holds the checkpoint, what was read is applied and the
  // part stays parked from there; the next round reads on.
  for (let round = 0; round < 50; round++) {
    const head = await store.headPosition();
    while (head && (readTo === null || comparePositions(readTo, head) < 0)) {
      const page = await store.readAll({ after: readTo, maxCount: 1000 });
      if (page.length === 0) break;
      for (const e of page) if (projection.eventTypes.has(e.type) && instanceOfEvent(e) === instanceId) held.push(e);
      readTo = page[page.length - 1]!.position;
    }
    const messages: { topic: string; message: unknown }[] = [];
    try {
      const outcome = await db.transaction().execute(async (trx) => {
        const { rows } = await sql<{ position: string | null }>`SELECT position FROM kefu_projection_checkpoints WHERE name = ${projection.name} FOR UPDATE`.execute(trx);
        const checkpoint = rows[0]?.position ? positionFromString(rows[0].position) : null;
        const ahead = checkpoint !== null && (readTo === null || comparePositions(checkpoint, readTo) > 0);
        // The runner held the instance's events up to its checkpoint; those after it it applies once unparked.
        const upTo = ahead ? readTo : checkpoint;
        const due = upTo ? held.filter((e) => comparePositions(e.position, upTo) <= 0) : [];
        const sink = { publish: (topic: string, message: unknown) => messages.push({ topic, message }) };
        for (const event of due) {
          try {
            if (projection.applyBatch) await projection.applyBatch(trx, [event], sink);
            else await projection.apply!(trx, event, sink);
          } catch (err) {
            throw new HeldEventFailed(event, err);
          }
        }
        if (ahead) {
          await trx
            .updateTable('kefu_projection_parked_parts')
            .set({ resume_after: readTo ? positionToString(readTo) : null })
            .where('projection', '=', projection.name)
            .where('instance_id', '=', instanceId)
            .execute();
          return { due: due.length, resumed: false };
        }
        await trx
          .updateTable('kefu_projection_checkpoints')
          .set({ parked_instances: sql<string[]>`array_remove(parked_instances, ${instanceId})` })
          .where('name', '=', projection.name)
          .execute();
        await trx.deleteFrom('kefu_projection_parked_parts').where('projection', '=', projection.name).where('instance_id', '=', instanceId).execute();
        return { due: due.length, resumed: true };
      });
      if (deps.bus) await Promise.all(messages.map((m) => deps.bus!.publish(m.topic, m.message).catch(() => undefined)));
      appliedEvents += outcome.due;
      if (outcome.resumed) return { resumed: true, appliedEvents };
      row.resume_after = readTo ? positionToString(readTo) : null;
      held = held.slice(outcome.due);
    } catch (err) {
      if (!(err instanceof HeldEventFailed) || isTransientFailure(err.failure)) throw err instanceof HeldEventFailed ? err.failure : err;
      const failed = {
        event_position: positionToString(err.event.position),
        event_id: storable(err.event.id, 500),
        event_type: storable(err.event.type, 500),
        stream_id: storable(err.event.streamId, 1000),
        error: describeFailure(err.failure),
        last_retry_at: new Date(),
      };
      await db.updateTable('kefu_projection_parked_parts').set(failed).where('projection', '=', projection.name).where('instance_id', '=', instanceId).execute();
      return { resumed: false, part: toParkedPart({ ...row, ...failed }) };
    }
  }
  throw new Error(`The ${projection.name} projection moved on faster than 50 rounds of the retry of the part of ${instanceId} could follow; try again`);
}
