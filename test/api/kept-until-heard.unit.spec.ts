// KeptUntilHeard: a read model value kept in memory until the bus says its key changed (max age at most), one
// read for concurrent look-ups, and never a value whose read may predate a change heard while it ran.
import { describe, expect, it } from 'vitest';
import { InProcessBus } from '../../src/adapters/bus/in-process-bus.ts';
import type { Bus } from '../../src/domain/ports/bus.ts';
import { KeptUntilHeard } from '../../src/api/kept-until-heard.ts';

/** A store of key -> value whose loads are counted; `gate` holds the next load until released. */
function store(values: Map<string, string>) {
  const state = { loads: 0, gate: null as Promise<void> | null };
  const load = async (key: string) => {
    state.loads++;
    const value = values.get(key) ?? 'none';
    const gate = state.gate;
    state.gate = null;
    if (gate) await gate;
    return value;
  };
  return { state, load };
}

function deferred() {
  let release!: () => void;
  const promise = new Promise<void>((r) => (release = r));
  return { promise, release };
}

/** Keys `<instance>/<id>`; the subject is the instance's; a message `{ id }` changes that key, another shape all of the instance. */
function kept(bus: Bus | null, load: (key: string) => Promise<string>, o: { maxAgeMs?: number; unheardMs?: number; now?: () => number; keep?: (v: string) => boolean } = {}) {
  return new KeptUntilHeard<string>({
    bus,
    load,
    subjectOf: (key) => `t.${key.split('/')[0]}`,
    changed: (subject, message) => {
      const id = (message as { id?: unknown } | null)?.id;
      return typeof id === 'string' ? [`${subject.slice(2)}/${id}`] : null;
    },
    ...o,
  });
}

describe('KeptUntilHeard', () => {
  it('keeps a value until a change of its key is heard', async () => {
    const values = new Map([['i1/a', 'A1'], ['i1/b', 'B1']]);
    const { state, load } = store(values);
    const bus = new InProcessBus();
    const k = kept(bus, load);
    expect(await k.get('i1/a')).toBe('A1');
    expect(await k.get('i1/a')).toBe('A1');
    expect(await k.get('i1/b')).toBe('B1');
    expect(state.loads).toBe(2);
    values.set('i1/a', 'A2');
    await bus.publish('t.i1', { id: 'a' });
    expect(await k.get('i1/a')).toBe('A2');
    expect(await k.get('i1/b')).toBe('B1');
    expect(state.loads).toBe(3);
    // Another shape: every key of the subject is read again, not another subject's.
    expect(await k.get('i2/a')).toBe('none');
    await bus.publish('t.i1', 'changed');
    await k.get('i1/a');
    await k.get('i1/b');
    await k.get('i2/a');
    expect(state.loads).toBe(6);
  });

  it('reads every time without a bus, and keeps unheardMs only when told', async () => {
    const { state, load } = store(new Map());
    const k = kept(null, load);
    await k.get('i1/a');
    await k.get('i1/a');
    expect(state.loads).toBe(2);
    const clock = { ms: 0 };
    const short = kept(null, load, { unheardMs: 1000, now: () => clock.ms });
    await short.get('i1/a');
    await short.get('i1/a');
    expect(state.loads).toBe(3);
    clock.ms = 1000;
    await short.get('i1/a');
    expect(state.loads).toBe(4);
  });

  it('holds a value maxAgeMs at most (a change not heard)', async () => {
    const { state, load } = store(new Map());
    const clock = { ms: 0 };
    const k = kept(new InProcessBus(), load, { maxAgeMs: 30_000, now: () => clock.ms });
    await k.get('i1/a');
    clock.ms = 29_999;
    await k.get('i1/a');
    expect(state.loads).toBe(1);
    clock.ms = 30_000;
    await k.get('i1/a');
    expect(state.loads).toBe(2);
  });

  it('shares one load among concurrent look-ups', async () => {
    const { state, load } = store(new Map([['i1/a', 'A1']]));
    const k = kept(new InProcessBus(), load);
    const gate = deferred();
    state.gate = gate.promise;
    const all = Promise.all([k.get('i1/a'), k.get('i1/a'), k.get('i1/a')]);
    gate.release();
    expect(await all).toEqual(['A1', 'A1', 'A1']);
    expect(state.loads).toBe(1);
  });

  it('does not keep a value whose load saw a change heard while it ran, and reads again for a later look-up', async () => {
    const values = new Map([['i1/a', 'A1']]);
    const { state, load } = store(values);
    const bus = new InProcessBus();
    const k = kept(bus, load);
    await k.get('i1/b'); // listening on t.i1
    const gate = deferred();
    state.gate = gate.promise;
    const first = k.get('i1/a');
    // The load read A1; the change is written and published before it returns.
    await waitUntil(() => state.loads === 2);
    values.set('i1/a', 'A2');
    await bus.publish('t.i1', { id: 'a' });
    // Asked after the change was heard: not the load under way (it may predate the change).
    const after = k.get('i1/a');
    gate.release();
    expect(await first).toBe('A1');
    expect(await after).toBe('A2');
    expect(await k.get('i1/a')).toBe('A2');
    expect(state.loads).toBe(3);
  });

  it('keeps long only what was read once listening (a change before the subscription would be missed)', async () => {
    const { state, load } = store(new Map());
    const subscribed = deferred();
    const inner = new InProcessBus();
    const bus: Bus = { name: 'slow', publish: (t, m) => inner.publish(t, m), subscribe: async (t, f) => { await subscribed.promise; return inner.subscribe(t, f); }, close: () => inner.close() };
    const k = kept(bus, load);
    const first = k.get('i1/a');
    expect(state.loads).toBe(0);
    subscribed.release();
    await first;
    expect(state.loads).toBe(1);
    await k.get('i1/a');
    expect(state.loads).toBe(1);
    // A failed subscription: read every time (unheardMs 0), and tried again.
    const failing: Bus = { name: 'failing', publish: () => Promise.resolve(), subscribe: () => Promise.reject(new Error('no')), close: () => Promise.resolve() };
    const f = kept(failing, load);
    await f.get('i1/a');
    await f.get('i1/a');
    expect(state.loads).toBe(3);
  });

  it('keeps only what keep accepts, drops on forget, and does not keep a failed load', async () => {
    const { state, load } = store(new Map([['i1/a', 'open']]));
    const k = kept(new InProcessBus(), load, { keep: (v) => v === 'open' });
    await k.get('i1/x');
    await k.get('i1/x');
    expect(state.loads).toBe(2);
    await k.get('i1/a');
    await k.get('i1/a');
    expect(state.loads).toBe(3);
    k.forget('i1/a');
    await k.get('i1/a');
    expect(state.loads).toBe(4);
    let fail = true;
    const failing = kept(new InProcessBus(), async () => {
      if (fail) throw new Error('down');
      return 'up';
    });
    await expect(failing.get('i1/a')).rejects.toThrow('down');
    fail = false;
    expect(await failing.get('i1/a')).toBe('up');
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 1));
  }
}
