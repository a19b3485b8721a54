// SIPp runs for the phone benchmark: the agents' registration (one run, -inf with every user), the agents'
// answering phones (one long-running uas with -rtp_echo), and the customers (uac at -r calls/s). Statistics
// come from SIPp's own CSV (-trace_stat), the last line of which holds the cumulative counters.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const scenarios = fileURLToPath(new URL('./scenarios/', import.meta.url));
const work = mkdtempSync(path.join(tmpdir(), 'kefu-bench-phone-'));

export const workDir = work;

function fill(text: string, vars: Record<string, string | number>): string {
  return text.replace(/\{\{([A-Z_]+)\}\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m));
}

/** A scenario from ./scenarios with {{VARS}} filled in, written to the run's temp dir. */
export function scenarioFile(name: string, vars: Record<string, string | number>, out = name): string {
  let text = readFileSync(path.join(scenarios, name), 'utf8');
  if (text.includes('{{TALK}}')) {
    // Talk time as pcap plays of at most 7 s (the length of g711a.pcap), each cut short by the next.
    const talkMs = Number(vars.TALK_MS);
    const chunk = readFileSync(path.join(scenarios, 'talk-chunk.xml'), 'utf8');
    const parts: string[] = [];
    for (let left = talkMs; left > 0; left -= 7000) parts.push(fill(chunk, { MS: Math.min(7000, left) }));
    text = text.replace('{{TALK}}', parts.join('\n'));
  }
  if (text.includes('{{REGISTERS}}')) {
    const step = readFileSync(path.join(scenarios, 'agent-register-step.xml'), 'utf8');
    const users = String(vars.USERS).split(',');
    text = text.replace('{{REGISTERS}}', users.map((user, i) => fill(step, { USER: user, N: i, CSEQ_A: 2 * i + 1, CSEQ_B: 2 * i + 2, PASSWORD: vars.PASSWORD! })).join('\n'));
  }
  text = fill(text, vars);
  const left = /\{\{[A-Z_]+\}\}/.exec(text);
  if (left) throw new Error(`scenario ${name}: ${left[0]} not filled in`);
  const file = path.join(work, out);
  writeFileSync(file, text);
  return file;
}

export interface SippStats {
  /** Cumulative counters from the last line of the statistics CSV, by column name (e.g. `SuccessfulCall(C)`). */
  counters: Record<string, number>;
  successful: number;
  failed: number;
  created: number;
  /** Largest `CurrentCall` seen in the per-second lines. */
  peakCurrent: number;
  /** Median of response time 1 (INVITE sent to 200 received), ms, when the scenario has rtd. */
  answerMs: number | null;
}

function readStats(file: string): SippStats | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length < 2) return null;
  const header = lines[0]!.split(';');
  const rows = lines.slice(1).map((l) => l.split(';'));
  const last = rows[rows.length - 1]!;
  const counters: Record<string, number> = {};
  header.forEach((h, i) => {
    const v = Number(last[i]);
    if (h && Number.isFinite(v)) counters[h] = v;
  });
  const current = header.indexOf('CurrentCall');
  const peakCurrent = current < 0 ? 0 : Math.max(...rows.map((r) => Number(r[current]) || 0));
  const rtdCol = header.indexOf('ResponseTime1(C)');
  let answerMs: number | null = null;
  if (rtdCol >= 0 && last[rtdCol]) {
    // hh:mm:ss:uuuuuu
    const m = /^(\d+):(\d+):(\d+):(\d+)$/.exec(last[rtdCol]!.trim());
    if (m) answerMs = (Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1000 + Number(m[4]) / 1000;
  }
  return {
    counters,
    successful: counters['SuccessfulCall(C)'] ?? 0,
    failed: counters['FailedCall(C)'] ?? 0,
    created: counters['TotalCallCreated'] ?? 0,
    peakCurrent,
    answerMs,
  };
}

export interface SippHandle {
  readonly child: ChildProcess;
  readonly done: Promise<{ code: number | null; output: string; stats: SippStats | null; errors: string }>;
  stats(): SippStats | null;
  stop(): void;
}

let runs = 0;

export function sipp(o: {
  scenario: string;
  target: string;
  localPort: number;
  mediaPort: number;
  service?: string;
  rate?: number;
  total?: number;
  limit?: number;
  rtpEcho?: boolean;
  uas?: boolean;
  inf?: string;
  timeoutS?: number;
}): SippHandle {
  const id = `${path.basename(o.scenario, '.xml')}-${++runs}`;
  const statFile = path.join(work, `${id}.csv`);
  const errorFile = path.join(work, `${id}.err`);
  const args = [
    ...(o.uas ? [] : [o.target]),
    '-sf', o.scenario,
    '-i', '127.0.0.1',
    '-p', String(o.localPort),
    '-mi', '127.0.0.1',
    '-mp', String(o.mediaPort),
    '-t', 'u1',
    '-nostdin',
    '-trace_stat', '-stf', statFile, '-fd', '1',
    '-trace_err', '-error_file', errorFile,
    '-max_recv_loops', '10000',
    '-max_sched_loops', '10000',
  ];
  if (o.service) args.push('-s', o.service);
  if (o.rate !== undefined) args.push('-r', String(o.rate));
  if (o.total !== undefined) args.push('-m', String(o.total));
  if (o.limit !== undefined) args.push('-l', String(o.limit));
  if (o.rtpEcho) args.push('-rtp_echo');
  if (o.inf) args.push('-inf', o.inf);
  if (process.env.BENCH_PHONE_SIPP_TRACE === '1') args.push('-trace_msg', '-message_file', path.join(work, `${id}.msg`));
  if (o.timeoutS) args.push('-timeout', `${o.timeoutS}s`, '-timeout_error');
  const child = spawn('sipp', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-8000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const done = new Promise<{ code: number | null; output: string; stats: SippStats | null; errors: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      let errors = '';
      try {
        errors = readFileSync(errorFile, 'utf8').slice(-4000);
      } catch {
        // none written
      }
      resolve({ code, output, stats: readStats(statFile), errors });
    });
  });
  return { child, done, stats: () => readStats(statFile), stop: () => child.kill('SIGTERM') };
}
