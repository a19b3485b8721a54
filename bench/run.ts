// `npm run bench`: runs each benchmark module, prints its tables, and rewrites its section of
// bench/RESULTS.md. `npm run bench -- projections` (or BENCH_ONLY=eventstore,...) picks modules;
// BENCH_WRITE=0 leaves RESULTS.md alone.
// Add a benchmark by writing a module that returns result rows (see bench/lib/module.ts) and listing it here.
import { fileURLToPath } from 'node:url';
import { envList } from './lib/config.ts';
import { machineInfo } from './lib/machine.ts';
import type { BenchModule } from './lib/module.ts';
import { renderMachine, renderTables, writeSection } from './lib/report.ts';
import { eventStoreBench } from './eventstore.ts';
import { projectionsBench } from './projections.ts';
import { routingBench } from './routing.ts';
import { phoneBench } from './phone.ts';
import { softphoneBench } from './softphone.ts';
import { liveBench } from './live.ts';
import { chatBench } from './chat.ts';
import { chatCpuBench } from './chat-cpu.ts';
import { chatFlowBench } from './chat-flow.ts';
import { quickRepliesBench } from './quick-replies.ts';
import { exportsBench } from './exports.ts';
import { wechatBench } from './wechat.ts';
import { reportsBench } from './reports.ts';
import { observabilityBench } from './observability.ts';
import { avBench } from './av.ts';

const modules: BenchModule[] = [eventStoreBench, projectionsBench, routingBench, phoneBench, softphoneBench, liveBench, chatBench, chatCpuBench, chatFlowBench, quickRepliesBench, exportsBench, wechatBench, reportsBench, observabilityBench, avBench];

const resultsFile = fileURLToPath(new URL('./RESULTS.md', import.meta.url));

const args = process.argv.slice(2).filter((a) => a.trim() !== '');
const only = args.length > 0 ? args : envList('BENCH_ONLY');
const unknown = only?.filter((n) => !modules.some((m) => m.name === n)) ?? [];
if (unknown.length > 0) throw new Error(`Unknown bench module ${unknown.join(', ')}; known: ${modules.map((m) => m.name).join(', ')}`);
const chosen = only ? modules.filter((m) => only.includes(m.name)) : modules;
if (chosen.length === 0) throw new Error(`No module chosen; known: ${modules.map((m) => m.name).join(', ')}`);

const machine = await machineInfo();
console.log(`${renderMachine(machine)}\n`);

for (const m of chosen) {
  console.log(`## ${m.title}\n`);
  const started = performance.now();
  const rows = await m.run();
  const seconds = (performance.now() - started) / 1000;
  const tables = renderTables(rows, m.comparison, m.goal ?? null);
  const notes = m.notes?.() ?? '';
  console.log(`\n${tables}\n${notes ? `\n${notes}\n` : ''}\n(${seconds.toFixed(0)} s)\n`);
  if (process.env.BENCH_WRITE !== '0') {
    writeSection(
      resultsFile,
      m.name,
      [`### ${m.title}: latest run`, '', renderMachine(machine), '', m.describe(), '', tables, ...(notes ? ['', notes] : []), '', `Run time: ${seconds.toFixed(0)} s.`].join('\n'),
    );
  }
}
if (process.env.BENCH_WRITE !== '0') console.log(`Wrote ${resultsFile}`);
