// What garbage collection sees of Kefu in the chat bench's measured phases (bench/chat/server-child.ts), for
// finding what each message leaves alive past a scavenge (the paced phase's young-generation pauses grow with
// what survives them, not with what is allocated).
// BENCH_CHAT_HEAP_PROF=<dir>: a sampling heap profile of each measured phase (one sample per 32 KiB allocated,
// BENCH_CHAT_HEAP_PROF_BYTES), written as <dir>/<pid>-<n>.heapprofile (Chrome DevTools opens it; `node
// bench/chat/gc-trace.ts <file>` lists the allocation sites). BENCH_CHAT_HEAP_PROF_KEEP picks the samples kept:
// `survived` (the default) the objects no scavenge collected (alive at the phase's end, or collected by a full
// GC after being promoted), `live` only those alive at the phase's end, `all` every allocation (what fills the
// young generation, and so how often it is scavenged).
// BENCH_CHAT_V8_FLAGS: V8 flags set in the server process only (e.g. `--trace-gc-nvp`: each pause with the
// bytes copied and promoted), not in the client processes the bench forks.
import { writeFileSync, readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';

const dir = process.env.BENCH_CHAT_HEAP_PROF;
const keep = process.env.BENCH_CHAT_HEAP_PROF_KEEP ?? 'survived';
let session: Session | null = null;
let profiles = 0;

/** Sets BENCH_CHAT_V8_FLAGS (space separated) in this process. */
export function setV8Flags(): void {
  for (const flag of (process.env.BENCH_CHAT_V8_FLAGS ?? '').split(/\s+/)) if (flag) setFlagsFromString(flag);
}

export async function heapProfileStart(): Promise<void> {
  if (!dir) return;
  session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: Number(process.env.BENCH_CHAT_HEAP_PROF_BYTES) || 32768,
    includeObjectsCollectedByMajorGC: keep === 'survived' || keep === 'all',
    includeObjectsCollectedByMinorGC: keep === 'all',
  });
}

export async function heapProfileStop(): Promise<void> {
  if (!session || !dir) return;
  const { profile } = await session.post('HeapProfiler.stopSampling');
  session.disconnect();
  session = null;
  writeFileSync(path.join(dir, `${process.pid}-${++profiles}.heapprofile`), JSON.stringify(profile));
}

// `node bench/chat/gc-trace.ts <file.heapprofile> [frames]`: the bytes sampled per allocation site (the
// allocating function and `frames` callers, 3 by default), largest first.
interface Node {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: Node[];
}
if (process.argv[1] && import.meta.filename === path.resolve(process.argv[1])) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: node bench/chat/gc-trace.ts <file.heapprofile> [frames]');
  const depth = Number(process.argv[3] ?? 3);
  const { head } = JSON.parse(readFileSync(file, 'utf8')) as { head: Node };
  const sites = new Map<string, number>();
  let total = 0;
  const frame = (n: Node) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/(src|node_modules|bench)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
  const walk = (n: Node, stack: string[]) => {
    const s = [frame(n), ...stack];
    if (n.selfSize > 0) {
      const key = s.slice(0, depth + 1).join(' < ');
      sites.set(key, (sites.get(key) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    for (const c of n.children) walk(c, s);
  };
  walk(head, []);
  console.log(`total sampled ${(total / 1048576).toFixed(1)} MiB`);
  for (const [k, v] of [...sites].sort((a, b) => b[1] - a[1]).slice(0, 60)) console.log(`${(v / 1048576).toFixed(2).padStart(8)} MiB  ${k}`);
}
