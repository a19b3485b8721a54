// The longest blocks of the server's main thread in a change profile of the live bench (BENCH_LIVE_CHANGE_PROF=<dir>):
// the turns of the event loop that held it over 10 ms (server-child's 1 ms timer firing late, <profile>.gaps.json),
// or without those, stretches of samples that are not (idle). For each: its length, where it fell (which change,
// ms from its mutation's arrival and from its bus message), and what ran in it, as self time by function and by
// the innermost frame of Kefu's own code (src/) on the stack, so that a block is told by the Kefu code that ran
// it, not only by the library it ended in. monitorEventLoopDelay gives the longest block's length; this tells
// which code it was; the SQL statements sent meanwhile are listed beside it. Sample times are wall times: a thread preempted on a loaded machine keeps its last stack (or
// shows few samples for a long block), so read a block's functions, not its exact length, and compare with the
// bare server's blocks in the same run.
// Run: node bench/live/longest-blocks.ts <dir>/kefu-<pid>-<n>.cpuprofile [blocks=5] [top=8]
import { existsSync, readFileSync } from 'node:fs';
import { readProfile, type ProfileNode } from '../lib/cpu-profile.ts';


const file = process.argv[2];
if (!file) throw new Error('usage: node bench/live/longest-blocks.ts <profile.cpuprofile> [blocks] [top]');
const blocks = Number(process.argv[3] ?? 5);
const top = Number(process.argv[4] ?? 8);
const profile = readProfile(file);
const windowsFile = file.replace(/\.cpuprofile$/, '.windows.json');
const gapsFile = file.replace(/\.cpuprofile$/, '.gaps.json');
/** The loop's measured blocks (server-child's 1 ms timer firing late), when the profile has them. */
const gaps = existsSync(gapsFile) ? (JSON.parse(readFileSync(gapsFile, 'utf8')) as [number, number][]) : null;
const statementsFile = file.replace(/\.cpuprofile$/, '.statements.json');
const statements = existsSync(statementsFile) ? (JSON.parse(readFileSync(statementsFile, 'utf8')) as [number, number, string][]) : [];
const windows = existsSync(windowsFile) ? (JSON.parse(readFileSync(windowsFile, 'utf8')) as [number, number, number][]) : [];

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const name = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/(node_modules\/)?/, '')}:${n.callFrame.lineNumber + 1}`;
/** The innermost frame of Kefu's own code on a sample's stack (or the leaf's library when none). */
const kefuFrame = (id: number): string => {
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const n = byId.get(at)!;
    if (/\/src\//.test(n.callFrame.url) && !/node_modules/.test(n.callFrame.url)) return name(n);
  }
  return `(no src frame) ${name(byId.get(id)!)}`;
};

let t = profile.startTime;
const times = profile.timeDeltas.map((d) => (t += d));
interface Block { from: number; to: number; samples: number[] }
const runs: Block[] = [];
let current: Block | null = null;
for (let i = 0; i < profile.samples.length - 1; i++) {
  const idle = byId.get(profile.samples[i]!)!.callFrame.functionName === '(idle)';
  if (idle) {
    if (current) runs.push(current);
    current = null;
    continue;
  }
  current ??= { from: times[i]!, to: times[i]!, samples: [] };
  current.to = times[i + 1]!;
  current.samples.push(i);
}
if (current) runs.push(current);
if (gaps) {
  // A busy stretch may hold many turns of the loop (slices that yield with setImmediate never let it idle):
  // with the measured blocks, those are the stretches.
  runs.length = 0;
  for (const [from, to] of gaps) runs.push({ from, to, samples: times.flatMap((at, i) => (at >= from && at < to && i < profile.samples.length - 1 ? [i] : [])) });
}
runs.sort((a, b) => b.to - b.from - (a.to - a.from));

const where = (at: number) => {
  const k = windows.findIndex(([from, , to]) => at >= from - 50_000 && at < to + 50_000);
  if (k < 0) return 'outside the changes';
  const [request, message, last] = windows[k]!;
  return `change #${k}: ${((at - request) / 1000).toFixed(1)} ms after its mutation, ${((at - message) / 1000).toFixed(1)} ms after its message (last frame at ${((last - message) / 1000).toFixed(1)})`;
};
const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
const busy = runs.reduce((a, r) => a + r.to - r.from, 0);
console.log(`${runs.length} ${gaps ? 'loop blocks over 10 ms' : 'busy stretches'}, ${(busy / 1000).toFixed(0)} ms busy in ${((times.at(-1)! - profile.startTime) / 1e6).toFixed(1)} s; ${windows.length} changes`);
for (const r of runs.slice(0, blocks)) {
  const self = new Map<string, number>();
  const kefu = new Map<string, number>();
  for (const i of r.samples) {
    const us = times[i + 1]! - times[i]!;
    add(self, name(byId.get(profile.samples[i]!)!), us);
    add(kefu, kefuFrame(profile.samples[i]!), us);
  }
  const list = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) => `    ${(us / 1000).toFixed(1).padStart(6)}  ${k}`).join('\n');
  console.log(`\n== ${((r.to - r.from) / 1000).toFixed(1)} ms, ${where(r.from)}`);
  console.log(`  by innermost src frame:\n${list(kefu)}`);
  console.log(`  by function (self):\n${list(self)}`);
  // On PGlite a statement runs on this thread: one that overlaps the block may be what held it (ms from the block's start, ms long).
  const during = statements.filter(([from, to]) => to > r.from && from < r.to);
  if (during.length > 0) console.log(`  SQL statements overlapping it:\n${during.map(([from, to, text]) => `    ${((from - r.from) / 1000).toFixed(1).padStart(6)} +${((to - from) / 1000).toFixed(1)}  ${text.slice(0, 110)}`).join('\n')}`);
}
