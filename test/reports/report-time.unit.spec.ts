// The pure parts of the reports (issue 15): local midnights and wall times in zones with odd offsets and
// DST, 15-minute bucket splitting, which state an agent's time counts in, and rates from sums.
import { describe, expect, it } from 'vitest';
import { contactMetrics, emptyContactSums, localMidnight, localWallTime, zoneOffsetMs } from '../../src/projections/reports/report-queries.ts';
import { agentTimeCounter, splitIntoBuckets } from '../../src/projections/reports/reports.projection.ts';
import { checkServiceLevelSeconds, checkTimeZone } from '../../src/domain/instance/report-settings.ts';

describe('report time zones', () => {
  it('finds local midnight at +5:45 (Nepal), +5:30 (India), −3:30 (Newfoundland) and across DST (Berlin)', () => {
    expect(localMidnight('2026-03-29', 'Asia/Kathmandu').toISOString()).toBe('2026-03-28T18:15:00.000Z');
    expect(localMidnight('2026-03-29', 'Asia/Kolkata').toISOString()).toBe('2026-03-28T18:30:00.000Z');
    expect(localMidnight('2026-07-01', 'America/St_Johns').toISOString()).toBe('2026-07-01T02:30:00.000Z');
    expect(localMidnight('2026-03-29', 'Europe/Berlin').toISOString()).toBe('2026-03-28T23:00:00.000Z');
    expect(localMidnight('2026-03-30', 'Europe/Berlin').toISOString()).toBe('2026-03-29T22:00:00.000Z');
    expect(localMidnight('2026-10-25', 'Europe/Berlin').toISOString()).toBe('2026-10-24T22:00:00.000Z');
    expect(localMidnight('2026-10-26', 'Europe/Berlin').toISOString()).toBe('2026-10-25T23:00:00.000Z');
  });

  it('reads wall times and offsets', () => {
    expect(localWallTime(Date.parse('2026-03-29T01:00:00Z'), 'Europe/Berlin')).toBe('2026-03-29T03:00');
    expect(localWallTime(Date.parse('2026-03-29T00:45:00Z'), 'Europe/Berlin')).toBe('2026-03-29T01:45');
    expect(zoneOffsetMs(Date.parse('2026-01-01T00:00:00Z'), 'Asia/Kathmandu')).toBe((5 * 60 + 45) * 60_000);
  });

  it('keeps zones IANA names, refuses offsets and unknown names', () => {
    expect(checkTimeZone('Asia/Kolkata', 'timeZone')).toBe('Asia/Kolkata');
    expect(checkTimeZone('UTC', 'timeZone')).toBe('UTC');
    for (const bad of ['+05:30', 'Mars/Base', '', 'Europe/Berlin; DROP TABLE x', 'x'.repeat(65)]) expect(() => checkTimeZone(bad, 'timeZone')).toThrow(/IANA/);
    expect(checkServiceLevelSeconds(20, 'x')).toBe(20);
    expect(() => checkServiceLevelSeconds(21, 'x')).toThrow(/one of/);
  });
});

describe('report buckets', () => {
  it('splits a span at 15-minute boundaries, exactly', () => {
    const from = Date.parse('2026-03-28T23:50:00Z');
    const to = Date.parse('2026-03-29T00:20:00Z');
    expect(splitIntoBuckets(from, to).map(([b, ms]) => [b.toISOString(), ms])).toEqual([
      ['2026-03-28T23:45:00.000Z', 10 * 60_000],
      ['2026-03-29T00:00:00.000Z', 15 * 60_000],
      ['2026-03-29T00:15:00.000Z', 5 * 60_000],
    ]);
    expect(splitIntoBuckets(from, from)).toEqual([]);
  });

  it('counts an agent’s moment in the first state that applies', () => {
    expect(agentTimeCounter({ presence: 'BREAK', contacts: { a: 'connected' }, wrap_up_contact_id: 'b' })).toBe('on_contact_ms');
    expect(agentTimeCounter({ presence: 'AVAILABLE', contacts: { a: 'offered' }, wrap_up_contact_id: 'b' })).toBe('acw_ms');
    expect(agentTimeCounter({ presence: 'AVAILABLE', contacts: { a: 'offered' }, wrap_up_contact_id: null })).toBe('ringing_ms');
    expect(agentTimeCounter({ presence: 'BREAK', contacts: {}, wrap_up_contact_id: null })).toBe('break_ms');
    expect(agentTimeCounter({ presence: 'AVAILABLE', contacts: {}, wrap_up_contact_id: null })).toBe('idle_ms');
    expect(agentTimeCounter({ presence: 'OFFLINE', contacts: {}, wrap_up_contact_id: null })).toBeNull();
  });

  it('computes rates from sums and leaves them null without a denominator', () => {
    const sums = { ...emptyContactSums(), queued: 4, handled: 3, queue_abandoned: 1, queue_exits: 4, sl_20: 2, sl_30: 3, answer_wait_count: 3, answer_wait_ms: 45_000, talk_ms: 300_000, acw_ms: 30_000 };
    expect(contactMetrics(sums, 20)).toMatchObject({ answerRate: 0.75, abandonRate: 0.25, serviceLevel: 0.5, averageSpeedOfAnswerSeconds: 15, averageHandleSeconds: 110 });
    expect(contactMetrics(sums, 30).serviceLevel).toBe(0.75);
    expect(contactMetrics(emptyContactSums(), 20)).toMatchObject({ answerRate: null, serviceLevel: null, averageHandleSeconds: null, talkSeconds: 0 });
  });
});
