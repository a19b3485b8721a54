// An instance's break reasons for a break with a reason (setPresence checks the reason against them): from memory
// while nothing of the instance changed (issue 10). Half the presence changes of the live bench read the whole
// instance row for them; on PGlite that read runs on the main thread between a change's mutation and its frames.
import type { Bus } from '../domain/ports/bus.ts';
import type { ReadModel } from '../projections/projection.ts';
import { instanceTopic } from '../projections/instances/instances.projection.ts';
import { KeptUntilHeard } from './kept-until-heard.ts';

/**
 * The instances projection publishes each change of an instance on its instance topic after the write; a process
 * that listens keeps the reasons it read for `ttlMs` unless it hears a change (then it reads again). A read that
 * heard a change while it ran is not kept (it may predate the change). Without a bus, or not yet listening: read
 * every time. A change not heard (a NATS message lost in a reconnect) holds at most `ttlMs`.
 */
export class InstanceBreakReasons {
  private readonly kept: KeptUntilHeard<string[] | undefined>;

  constructor(db: ReadModel, bus: Bus | null, o: { ttlMs?: number; now?: () => number } = {}) {
    this.kept = new KeptUntilHeard({
      bus,
      load: async (instanceId) => {
        const row = await db.selectFrom('instances').select('break_reasons').where('id', '=', instanceId).executeTakeFirst();
        return row ? (row.break_reasons as string[]) : undefined;
      },
      subjectOf: (instanceId) => instanceTopic(instanceId),
      // The subject is the instance's own (kefu.<instanceId>.instance): any message on it changes that instance.
      changed: (subject) => [subject.slice('kefu.'.length, -'.instance'.length)],
      keep: (reasons) => reasons !== undefined,
      maxAgeMs: o.ttlMs ?? 30_000,
      ...(o.now && { now: o.now }),
    });
  }

  /** The instance's break reasons; undefined when there is no such instance. */
  get(instanceId: string): Promise<string[] | undefined> {
    return this.kept.get(instanceId);
  }
}

const perBus = new WeakMap<object, InstanceBreakReasons>();
/** One per read model and bus (a process's API). */
export function instanceBreakReasons(db: ReadModel, bus: Bus | null): InstanceBreakReasons {
  const key = (bus ?? db) as object;
  let r = perBus.get(key);
  if (!r) perBus.set(key, (r = new InstanceBreakReasons(db, bus)));
  return r;
}
