// asReadFromJsonb gives an event's data and metadata as a jsonb column gives them back (object keys shorter first,
// then by their UTF-8 bytes), for the events handed to subscribers from memory. Its keys are sorted by an
// insertion sort for ASCII keys (issue 11: every appended event passes here); the oracle below is the comparator
// sort it replaced, checked against PostgreSQL's order in own-appends.
import { describe, expect, it } from 'vitest';
import { asReadFromJsonb } from '../../src/adapters/eventstore/postgres/postgres-event-store.ts';

// eslint-disable-next-line no-control-regex
const ascii = /^[\x00-\x7f]*$/;
function oracleOrder(a: string, b: string): number {
  if (ascii.test(a) && ascii.test(b)) return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length !== y.length ? x.length - y.length : Buffer.compare(x, y);
}
function oracle(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(oracle);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value).sort(oracleOrder)) out[k] = oracle((value as Record<string, unknown>)[k]);
  return out;
}

/** A small seeded generator (mulberry32): the same values at every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const alphabet = ['a', 'b', 'z', 'A', 'Z', '0', '9', '_', ' ', '~', '\u0001', 'é', '中', '😀', 'ÿ'];

function key(r: () => number, asciiOnly: boolean): string {
  const n = Math.floor(r() * 6);
  let k = '';
  for (let i = 0; i < n; i++) k += alphabet[Math.floor(r() * (asciiOnly ? 11 : alphabet.length))]!;
  return k;
}

function value(r: () => number, depth: number, asciiOnly: boolean): unknown {
  const pick = r();
  if (depth >= 3 || pick < 0.4) return pick < 0.1 ? null : pick < 0.2 ? Math.floor(r() * 100) : pick < 0.3 ? r() < 0.5 : key(r, false);
  if (pick < 0.55) return Array.from({ length: Math.floor(r() * 4) }, () => value(r, depth + 1, asciiOnly));
  const o: Record<string, unknown> = {};
  // Up to 30 keys: past 24 the comparator sort is used again.
  const n = Math.floor(r() * (r() < 0.1 ? 30 : 9));
  for (let i = 0; i < n; i++) o[key(r, asciiOnly)] = value(r, depth + 1, asciiOnly);
  return o;
}

describe('asReadFromJsonb', () => {
  it("orders every object's keys as the comparator sort did, ASCII keys or not, nested in objects and arrays", () => {
    const r = random(11);
    for (let i = 0; i < 4000; i++) {
      const v = value(r, 0, i % 2 === 0);
      const got = asReadFromJsonb(v);
      expect(JSON.stringify(got)).toBe(JSON.stringify(oracle(v)));
      expect(got).toEqual(v);
      if (v !== null && typeof v === 'object') expect(got).not.toBe(v);
    }
  });

  it("gives a chat message event's metadata and data in jsonb's order", () => {
    const metadata = { instanceId: 'i1', actor: 'customer:c1', correlationId: 'x', causationId: null, occurredAt: '2026-12-06T05:00:00.000Z' };
    expect(Object.keys(asReadFromJsonb(metadata) as object)).toEqual(['actor', 'instanceId', 'occurredAt', 'causationId', 'correlationId']);
    const data = { contactId: 'c', message: { seq: 3, from: 'CUSTOMER', text: 'hi 😀', clientMessageId: 'm', at: 'now' } };
    expect(JSON.stringify(asReadFromJsonb(data))).toBe('{"message":{"at":"now","seq":3,"from":"CUSTOMER","text":"hi 😀","clientMessageId":"m"},"contactId":"c"}');
  });
});
