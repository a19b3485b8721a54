// The router's and chat reception's timers by key: "kind:entity" or "kind:entity:more" (idle:<contact>:<time>,
// queue:<contact>, offer:<contact>:<offer>). A Map that also finds the keys of one kind and entity without looking
// at the others: clearing or re-arming a chat's idle timer on each of its messages used to scan every timer of
// the process (every chat's), and arming one scanned them again for each key it replaced.

/** "kind:entity" of a key (the key itself when it has no second colon). */
function entityOf(key: string): string {
  const first = key.indexOf(':');
  const second = first < 0 ? -1 : key.indexOf(':', first + 1);
  return second < 0 ? key : key.slice(0, second);
}

export class KeyedTimers extends Map<string, NodeJS.Timeout> {
  private readonly byEntity = new Map<string, Set<string>>();

  override set(key: string, timer: NodeJS.Timeout): this {
    super.set(key, timer);
    const entity = entityOf(key);
    let keys = this.byEntity.get(entity);
    if (!keys) this.byEntity.set(entity, (keys = new Set()));
    keys.add(key);
    return this;
  }

  override delete(key: string): boolean {
    if (!super.delete(key)) return false;
    const entity = entityOf(key);
    const keys = this.byEntity.get(entity);
    keys?.delete(key);
    if (keys?.size === 0) this.byEntity.delete(entity);
    return true;
  }

  override clear(): void {
    super.clear();
    this.byEntity.clear();
  }

  /**
   * The keys starting with `prefix`, of its kind and entity only ("queue:<contact>" is that contact's, not also
   * another contact's whose id begins with this one's). A prefix with no colon looks at every key.
   */
  keysWithPrefix(prefix: string): string[] {
    if (!prefix.includes(':')) return [...this.keys()].filter((k) => k.startsWith(prefix));
    const keys = this.byEntity.get(entityOf(prefix));
    if (!keys) return [];
    const out: string[] = [];
    for (const k of keys) if (k.startsWith(prefix)) out.push(k);
    return out;
  }

  /** Stops and forgets the timers whose keys start with `prefix` (see keysWithPrefix). */
  clearPrefix(prefix: string): void {
    for (const key of this.keysWithPrefix(prefix)) {
      clearTimeout(this.get(key));
      this.delete(key);
    }
  }
}
