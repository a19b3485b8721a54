// Result rows, their tables, and the generated sections of bench/RESULTS.md.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { MachineInfo } from './machine.ts';
import { median } from './stats.ts';

/** One measurement of one system under test (the median over the rounds run). */
export interface ResultRow {
  /** Stable id of the measurement, e.g. `append-new`. */
  measurement: string;
  /** What was measured, for people. */
  label: string;
  /** The system under test, e.g. `kefu-postgres`. */
  target: string;
  /** Events written or read in the timed part. */
  events: number;
  /** Wall-clock milliseconds of the timed part. */
  ms: number;
  eventsPerSec: number;
  /** Per-operation latency (one append, or one read+fold). */
  p50Ms: number;
  p99Ms: number;
  /** events/s of each round, in run order. */
  perRound: number[];
  /** Show the wall-clock time of the timed part beside events/s (reads and catch-ups, where it means something). */
  showTime?: boolean;
}

/** A throughput a module is held to: its table gets a column with events/s over this. */
export interface Goal {
  eventsPerSec: number;
  title: string;
}

/** Which two targets a module's ratio column compares (events/s of numerator / events/s of denominator). */
export interface Comparison {
  numerator: string;
  denominator: string;
  title: string;
}

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** Milliseconds, or seconds from 10 s up. */
const duration = (v: number) => (v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${ms(v)} ms`);

function order<T>(items: T[]): T[] {
  return [...new Set(items)];
}

/**
 * events/s of `numerator` over `denominator`. When both ran the same interleaved rounds, the median of the
 * per-round ratios: each compares two measurements taken moments apart, which cancels slow drift of the
 * machine better than a ratio of two medians. Otherwise the ratio of the medians.
 */
export function ratio(rows: ResultRow[], measurement: string, c: Comparison): number | null {
  const rounds = roundRatios(rows, measurement, c);
  if (rounds) return median(rounds);
  const a = rows.find((r) => r.measurement === measurement && r.target === c.numerator);
  const b = rows.find((r) => r.measurement === measurement && r.target === c.denominator);
  return a && b && b.eventsPerSec > 0 ? a.eventsPerSec / b.eventsPerSec : null;
}

export function roundRatios(rows: ResultRow[], measurement: string, c: Comparison): number[] | null {
  const a = rows.find((r) => r.measurement === measurement && r.target === c.numerator);
  const b = rows.find((r) => r.measurement === measurement && r.target === c.denominator);
  if (!a || !b || a.perRound.length !== b.perRound.length || a.perRound.length === 0) return null;
  return a.perRound.map((v, i) => v / b.perRound[i]!);
}

function table(header: string[], body: string[][]): string {
  const align = header.map((_, i) => (i === 0 ? '---' : '---:'));
  return [header, align, ...body].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

/** Throughput table with the ratio column, then a latency/spread table. Markdown; also readable in a terminal. */
export function renderTables(rows: ResultRow[], comparison: Comparison | null, goal: Goal | null = null): string {
  const measurements = order(rows.map((r) => r.measurement));
  const targets = order(rows.map((r) => r.target));
  const cell = (m: string, t: string, f: (r: ResultRow) => string) => {
    const r = rows.find((x) => x.measurement === m && x.target === t);
    return r ? f(r) : '-';
  };
  const labelOf = (m: string) => rows.find((r) => r.measurement === m)!.label;

  const throughput = table(
    [
      'Measurement',
      ...targets.map((t) => `${t} events/s`),
      ...(comparison ? [comparison.title] : []),
      ...(goal ? targets.map((t) => `${t} / ${goal.title}`) : []),
    ],
    measurements.map((m) => [
      labelOf(m),
      ...targets.map((t) =>
        cell(m, t, (r) => (r.showTime || m.startsWith('read') ? `${int.format(r.eventsPerSec)} (${duration(r.ms)})` : int.format(r.eventsPerSec))),
      ),
      ...(comparison ? [((x) => (x === null ? '-' : `**${x.toFixed(2)}x**`))(ratio(rows, m, comparison))] : []),
      ...(goal ? targets.map((t) => cell(m, t, (r) => `**${(r.eventsPerSec / goal.eventsPerSec).toFixed(2)}x**`)) : []),
    ]),
  );
  const latency = table(
    [
      'Measurement',
      ...targets.map((t) => `${t} p50 / p99 ms`),
      ...(comparison ? [`${comparison.title} per round`] : []),
      ...targets.map((t) => `${t} events/s per round`),
    ],
    measurements.map((m) => [
      labelOf(m),
      ...targets.map((t) => cell(m, t, (r) => `${ms(r.p50Ms)} / ${ms(r.p99Ms)}`)),
      ...(comparison ? [roundRatios(rows, m, comparison)?.map((x) => x.toFixed(2)).join(', ') ?? '-'] : []),
      ...targets.map((t) => cell(m, t, (r) => r.perRound.map((v) => int.format(v)).join(', '))),
    ]),
  );
  return `${throughput}\n\n${latency}`;
}

export function renderMachine(m: MachineInfo): string {
  return [
    `- Date: ${m.date}`,
    `- Machine: ${m.cpus} CPUs (nproc), ${m.cpuModel}, ${m.memory} RAM`,
    `- Node: ${m.node}`,
    `- PostgreSQL: ${m.postgres}${m.postgresSettings ? ` (${m.postgresSettings})` : ''}`,
    ...(m.pressure ? [`- Host pressure before the run (Linux PSI): ${m.pressure}`] : []),
  ].join('\n');
}

const begin = (name: string) => `<!-- bench:${name}:begin (generated by npm run bench; edits inside are overwritten) -->`;
const end = (name: string) => `<!-- bench:${name}:end -->`;

/** Replaces the generated section `name` of `file`, or appends it if the file has none yet. */
export function writeSection(file: string, name: string, content: string): void {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const section = `${begin(name)}\n${content.trim()}\n${end(name)}`;
  const startAt = text.indexOf(`<!-- bench:${name}:begin`);
  const endAt = text.indexOf(end(name));
  let next: string;
  if (startAt !== -1 && endAt > startAt) {
    next = text.slice(0, startAt) + section + text.slice(endAt + end(name).length);
  } else {
    next = `${text.trimEnd()}${text.trim() ? '\n\n' : ''}${section}\n`;
  }
  writeFileSync(file, next);
}
