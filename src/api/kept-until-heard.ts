// Read model rows kept in memory until the bus says they changed (issues 10-12): one helper for every such set
// (an instance's break reasons, open skill groups, agent rows behind tokens, a chat flow's current version).
import type { Bus } from '../domain/ports/bus.ts';

export interface KeptUntilHeardOptions<V> {
  /** Null: nothing is heard; values are kept `unheardMs` only. */
  bus: Bus | null;
  /** The value of a key, read from the read model (a failed read is not kept). */
  load: (key: string) => Promise<V>;
  /**
   * The bus subject that tells a key's changes (one subscription per subject, made at its first key's load), or
   * null when nothing tells them (the key is then kept `unheardMs` only).
   */
  subjectOf: (key: string) => string | null;
  /** The keys a message heard on `subject` changed; null: every key of that subject. */
  changed: (subject: string, message: unknown) => readonly string[] | null;
  /** Whether a loaded value is kept at all (e.g. only an open group; default every value). */
  keep?: (value: V) => boolean;
  /** How long a value read while listening is kept when no change is heard (a message lost in a reconnect): default 30 s. */
  maxAgeMs?: number;
  /** How long a value read while not listening (no bus, no subject, subscription failed) is kept: default 0. */
  unheardMs?: number;
  /** Kept values at most (the oldest go first): default 10,000. */
  maxEntries?: number;
  now?: () => number;
}

interface Kept<V> {
  value: V;
  until: number;
}

interface Loading<V> {
  promise: Promise<V>;
  /** Set when a change of the key was heard (or told) while it loaded: its value may predate the change. */
  stale: boolean;
}

/**
 * A key -> value map over a loader: a value is kept until a change of its key is heard on the bus, `maxAgeMs` at
 * most; concurrent loads of a key share one read; a load that began before a change was heard is never kept, and
 * a caller that asks after the change was heard does not share it (it reads again). A value is kept long only when
 * its subject's subscription was in place before its read began (a change published between the read and the
 * subscription would otherwise be missed).
 */
export class KeptUntilHeard<V> {
  private readonly kept = new Map<string, Kept<V>>();
  private readonly loading = new Map<string, Loading<V>>();
  /** Per subject: whether this process listens (true once subscribed). */
  private readonly listening = new Map<string, Promise<boolean>>();
  private readonly o: KeptUntilHeardOptions<V>;
  private readonly maxAgeMs: number;
  private readonly unheardMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(o: KeptUntilHeardOptions<V>) {
    this.o = o;
    this.maxAgeMs = o.maxAgeMs ?? 30_000;
    this.unheardMs = o.unheardMs ?? 0;
    this.maxEntries = o.maxEntries ?? 10_000;
    this.now = o.now ?? (() => performance.now());
  }

  /** The key's value: kept, or the load under way, or a new load. */
  get(key: string): Promise<V> {
    const kept = this.kept.get(key);
    if (kept !== undefined) {
      if (this.now() < kept.until) return Promise.resolve(kept.value);
      this.kept.delete(key);
    }
    const under = this.loading.get(key);
    if (under) return under.promise;
    // In the map before the load begins: a loader that fails at once still finds (and removes) its own entry.
    const entry: Loading<V> = { promise: undefined as unknown as Promise<V>, stale: false };
    this.loading.set(key, entry);
    entry.promise = this.load(key, entry);
    return entry.promise;
  }

  /** The key's value if kept now (no read). */
  peek(key: string): V | undefined {
    const kept = this.kept.get(key);
    return kept !== undefined && this.now() < kept.until ? kept.value : undefined;
  }

  /** A change of the key known in this process (as if heard): the kept value is dropped, a load under way is not kept. */
  forget(key: string): void {
    this.kept.delete(key);
    const under = this.loading.get(key);
    if (under) {
      under.stale = true;
      this.loading.delete(key);
    }
  }

  /** A value read just now after its change reached the read model: kept `unheardMs` (a change heard since its read would not be seen). */
  remember(key: string, value: V): void {
    if (this.unheardMs <= 0) return;
    this.forget(key);
    this.put(key, value, this.now() + this.unheardMs);
  }

  private async load(key: string, entry: Loading<V>): Promise<V> {
    let listening = false;
    try {
      const subject = this.o.subjectOf(key);
      if (subject !== null && this.o.bus) listening = await this.listen(subject);
      const at = this.now();
      const value = await this.o.load(key);
      const ms = listening ? this.maxAgeMs : this.unheardMs;
      if (!entry.stale && ms > 0 && (this.o.keep?.(value) ?? true)) this.put(key, value, at + ms);
      return value;
    } finally {
      if (this.loading.get(key) === entry) this.loading.delete(key);
    }
  }

  private put(key: string, value: V, until: number): void {
    this.kept.delete(key);
    while (this.kept.size >= this.maxEntries) this.kept.delete(this.kept.keys().next().value!);
    this.kept.set(key, { value, until });
  }

  private listen(subject: string): Promise<boolean> {
    let l = this.listening.get(subject);
    if (!l) {
      l = this.o.bus!.subscribe(subject, (message) => this.heard(subject, message)).then(
        () => true,
        () => {
          // Not listening: nothing is kept long for the subject; the next load tries again.
          this.listening.delete(subject);
          return false;
        },
      );
      this.listening.set(subject, l);
    }
    return l;
  }

  private heard(subject: string, message: unknown): void {
    const keys = this.o.changed(subject, message);
    if (keys !== null) {
      for (const key of keys) this.forget(key);
      return;
    }
    for (const key of [...this.kept.keys(), ...this.loading.keys()]) if (this.o.subjectOf(key) === subject) this.forget(key);
  }
}
