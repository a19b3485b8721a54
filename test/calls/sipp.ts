// SIPp as a real SIP peer in tests: scenario templates from ./scenarios filled in per test, one SIPp process
// per call leg. Under CI a missing sipp binary fails the test (it never skips).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const scenarios = new URL('./scenarios/', import.meta.url).pathname;

export function requireSipp(): void {
  try {
    execFileSync('sipp', ['-v'], { stdio: 'ignore' });
  } catch (err) {
    // sipp -v exits non-zero on some builds even when present; only a missing binary is an error.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('sipp is not installed (Debian package sip-tester); the phone tests need it', { cause: err });
  }
}

function fill(text: string, vars: Record<string, string | number>): string {
  return text.replace(/\{\{([A-Z_]+)\}\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m));
}

/** A scenario file from a template and step snippets, written to a temp dir; returns its path. */
export function scenario(template: string, vars: Record<string, string | number>, parts: Record<string, { step: string; vars?: Record<string, string | number> }[]> = {}): string {
  let text = readFileSync(path.join(scenarios, template), 'utf8');
  for (const [slot, steps] of Object.entries(parts)) {
    const body = steps.map((s) => fill(readFileSync(path.join(scenarios, 'steps', s.step), 'utf8'), { ...vars, ...s.vars })).join('\n');
    text = text.replace(`{{${slot}}}`, body);
  }
  text = fill(text, vars);
  const left = /\{\{[A-Z_]+\}\}/.exec(text);
  if (left) throw new Error(`scenario ${template}: ${left[0]} not filled in`);
  const dir = mkdtempSync(path.join(tmpdir(), 'kefu-sipp-'));
  const file = path.join(dir, template);
  writeFileSync(file, text);
  return file;
}

export interface SippRun {
  code: number | null;
  output: string;
}

export interface SippProcess {
  readonly done: Promise<SippRun>;
  /**
   * Resolves once SIPp has bound its signalling port: await it before anything makes Kefu send to this SIPp
   * (an offer to a phone, a call through a gateway), or the first INVITE can reach a port nobody listens on yet.
   */
  readonly listening: Promise<void>;
  kill(): void;
}

/** Whether a local UDP or TCP port is bound (Linux /proc/net tables; ports are hex after the colon). */
function portBound(port: number, transport: 'u1' | 't1'): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const tables = transport === 't1' ? ['/proc/net/tcp', '/proc/net/tcp6'] : ['/proc/net/udp', '/proc/net/udp6'];
  for (const table of tables) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      if (local?.endsWith(hex)) return true;
    }
  }
  return false;
}

/** Runs one SIPp call (-m 1) against Kefu's SIP port. `service` is the Request-URI user (the number dialled). */
export function sipp(o: { scenarioFile: string; target: string; localPort: number; mediaPort: number; service?: string; rtpEcho?: boolean; timeoutS?: number; transport?: 'u1' | 't1' }): SippProcess {
  const args = [
    o.target,
    '-sf', o.scenarioFile,
    '-m', '1',
    '-i', '127.0.0.1',
    '-p', String(o.localPort),
    '-mi', '127.0.0.1',
    '-mp', String(o.mediaPort),
    '-t', o.transport ?? 'u1',
    '-timeout', `${o.timeoutS ?? 60}s`,
    '-timeout_error',
    '-max_recv_loops', '1000',
    '-trace_err',
    '-error_file', path.join(tmpdir(), `kefu-sipp-${o.localPort}-${Date.now()}.err`),
  ];
  if (o.service) args.push('-s', o.service);
  if (o.rtpEcho) args.push('-rtp_echo');
  const child = spawn('sipp', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  const errorFile = args[args.indexOf('-error_file') + 1]!;
  const done = new Promise<SippRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      let errors = '';
      try {
        errors = readFileSync(errorFile, 'utf8');
      } catch {
        // no errors written
      }
      resolve({ code, output: `${output}\n${errors}` });
    });
  });
  let exited = false;
  void done.then(() => (exited = true), () => (exited = true));
  const listening = (async () => {
    const deadline = Date.now() + 15_000;
    while (!portBound(o.localPort, o.transport ?? 'u1')) {
      if (exited) throw new Error(`sipp exited before binding port ${o.localPort}: ${output}`);
      if (Date.now() > deadline) throw new Error(`sipp did not bind port ${o.localPort} within 15 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  // A test that never awaits it must not see an unhandled rejection.
  listening.catch(() => undefined);
  return { done, listening, kill: () => child.kill('SIGKILL') };
}

/** SIPp signalling and media ports for one test file, from its own block: each call gives the next pair. */
export function portAllocator(first: number): () => { sip: number; media: number } {
  let next = first;
  return () => {
    next += 10;
    return { sip: next, media: next + 4 };
  };
}
