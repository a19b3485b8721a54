// An instance's break reasons for a break with a reason (setPresence checks the reason against them): from memory
// while nothing of the instance changed (issue 10). Half the presence changes of the live bench read the whole
// instance row for them; on PGlite that read runs on the main thread between a change's mutation and its frames.
import type { Bus } from '../domain/ports/bus.ts';
import type { ReadModel } from '../projections/projection.ts';
import { instanceTopic } from '../projections/instances/instances.projection.ts';

/**
 * The instances projection publishes each change of an instance on its instance topic after the write; a process
 * that listens keeps the reasons it read for `ttlMs` unless it hears a change (then it reads again). A read that
 * heard a change while it ran is not kept (it may predate the change). Without a bus, or not yet listening: read
 * every time. A change not heard (a NATS message lost in a reconnect) holds at most `ttlMs`.
 */
export class InstanceBreakReasons {
  private readonly kept = new Map<string, { reasons: string[]; at: number }>();
  private readonly watched = new Map<string, { listening: Promise<boolean>; heard: number }>();
  private readonly db: ReadModel;
  private readonly bus: Bus | null;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(db: ReadModel, bus: Bus | null, o: { ttlMs?: number; now?: () => number } = {}) {
    this.db = db;
    this.bus = bus;
    this.ttlMs = o.ttlMs ?? 30_000;
    this.now = o.now ?? (() => performance.now());
  }

  /** The instance's break reasons; undefined when there is no such instance. */
  async get(instanceId: string): Promise<string[] | undefined> {
    const kept = this.kept.get(instanceId);
    if (kept !== undefined && this.now() - kept.at < this.ttlMs) return kept.reasons;
    const watch = this.watch(instanceId);
    const listening = watch ? await watch.listening : false;
    const heard = watch?.heard ?? 0;
    const at = this.now();
    const row = await this.db.selectFrom('instances').select('break_reasons').where('id', '=', instanceId).executeTakeFirst();
    if (!row) return undefined;
    const reasons = row.break_reasons as string[];
    if (listening && watch!.heard === heard) {
      if (this.kept.size >= 10_000) this.kept.delete(this.kept.keys().next().value!);
      this.kept.set(instanceId, { reasons, at });
    }
    return reasons;
  }

  private watch(instanceId: string): { listening: Promise<boolean>; heard: number } | null {
    if (!this.bus) return null;
    let w = this.watched.get(instanceId);
    if (!w) {
      const entry: { listening: Promise<boolean>; heard: number } = { listening: Promise.resolve(false), heard: 0 };
      entry.listening = this.bus
        .subscribe(instanceTopic(instanceId), () => {
          entry.heard++;
          this.kept.delete(instanceId);
        })
        .then(
          () => true,
          () => {
            this.watched.delete(instanceId);
            return false;
          },
        );
      this.watched.set(instanceId, entry);
      w = entry;
    }
    return w;
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
