// A change profile of the live bench (BENCH_LIVE_CHANGE_PROF=<dir>) cut to its changes' windows: per change, what
// the server's main thread ran from the mutation's arrival to the bus message ("before") and from the message to
// the change's last frame ("fan-out"): samples by source and by function (self time), and the SQL statements
// started in each part (text, count and time per change). Sample times are wall times: on a loaded machine a
// thread preempted in a system call keeps its stack, so compare parts and runs, not these against CPU figures.
// Run: node bench/live/profile-windows.ts <dir>/kefu-<pid>-<n>.cpuprofile [top=20]
import { readFileSync } from 'node:fs';
import { readProfile, type ProfileNode } from '../lib/cpu-profile.ts';


const file = process.argv[2];
if (!file) throw new Error('usage: node bench/live/profile-windows.ts <profile.cpuprofile> [top]');
const top = Number(process.argv[3] ?? 20);
const base = file.replace(/\.cpuprofile$/, '');
const profile = readProfile(file);
const windows = JSON.parse(readFileSync(`${base}.windows.json`, 'utf8')) as [number, number, number][];
const statements = JSON.parse(readFileSync(`${base}.statements.json`, 'utf8')) as [number, number, string][];
if (windows.length === 0) throw new Error('no change windows in this profile');

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const functionOf = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/(node_modules\/)?/, '')}:${n.callFrame.lineNumber + 1}`;
const sourceOf = (n: ProfileNode) => {
  const url = n.callFrame.url;
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url) ?? /\/(src\/[^/]+(?:\/[^/]+)?|bench|test)\//.exec(url);
  return m ? m[1]! : url ? url.replace(/^.*\//, '') : `(${n.callFrame.functionName})`;
};

type Part = 'before' | 'fan-out';
const partAt = (at: number): Part | null => {
  const w = windows.find(([from, , to]) => at >= from && at < to);
  return w ? (at < w[1] ? 'before' : 'fan-out') : null;
};
const parts = new Map<Part, { busy: number; bySource: Map<string, number>; byFunction: Map<string, number>; statements: Map<string, { n: number; us: number }> }>();
const partOf = (p: Part) => {
  let entry = parts.get(p);
  if (!entry) parts.set(p, (entry = { busy: 0, bySource: new Map(), byFunction: new Map(), statements: new Map() }));
  return entry;
};
const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);

// Each sample stands for the time to the next one.
let t = profile.startTime;
const times = profile.timeDeltas.map((d) => (t += d));
for (let i = 0; i < profile.samples.length - 1; i++) {
  const part = partAt(times[i]!);
  const node = byId.get(profile.samples[i]!)!;
  if (!part || node.callFrame.functionName === '(idle)') continue;
  const us = times[i + 1]! - times[i]!;
  const entry = partOf(part);
  entry.busy += us;
  add(entry.bySource, sourceOf(node), us);
  add(entry.byFunction, functionOf(node), us);
}
for (const [start, end, text] of statements) {
  const part = partAt(start);
  if (!part) continue;
  const s = partOf(part).statements;
  const key = text.slice(0, 100);
  const e = s.get(key) ?? { n: 0, us: 0 };
  e.n++;
  e.us += end - start;
  s.set(key, e);
}

const perChange = (us: number) => (us / 1000 / windows.length).toFixed(2).padStart(7);
const mean = (i: number, j: number) => windows.reduce((a, w) => a + w[j]! - w[i]!, 0) / windows.length / 1000;
console.log(`${windows.length} changes; wall ms per change: before the message ${mean(0, 1).toFixed(1)}, message to last frame ${mean(1, 2).toFixed(1)}`);
for (const name of ['before', 'fan-out'] as const) {
  const p = parts.get(name);
  if (!p) continue;
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  console.log(`\n== ${name}: samples ${perChange(p.busy)} ms per change (busy)`);
  console.log('-- by source');
  for (const [k, us] of sorted(p.bySource)) console.log(`${perChange(us)}  ${k}`);
  console.log('-- by function (self)');
  for (const [k, us] of sorted(p.byFunction)) console.log(`${perChange(us)}  ${k}`);
  const n = [...p.statements.values()].reduce((a, e) => a + e.n, 0);
  console.log(`-- SQL statements started: ${(n / windows.length).toFixed(2)} per change (count per change, ms in them per change)`);
  for (const [k, e] of [...p.statements].sort((a, b) => b[1].n - a[1].n).slice(0, top)) console.log(`${(e.n / windows.length).toFixed(2).padStart(6)} ${perChange(e.us)}  ${k}`);
}
