// Runs SIPp against the in-process SipServer. With CI=true a missing sipp fails the suite; locally
// the suites are skipped (describe.skipIf(skipWithoutSipp)).
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const sippPath = process.env.SIPP_PATH ?? '/usr/bin/sipp';
export const scenarios = path.join(import.meta.dirname, 'scenarios');

function sippInstalled(): boolean {
  try {
    execFileSync(sippPath, ['-v'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    // `sipp -v` exits non-zero on some versions but still runs.
    return (err as { code?: string }).code !== 'ENOENT';
  }
}

export const sippAvailable = sippInstalled();
export const skipWithoutSipp = !sippAvailable && process.env.CI !== 'true';

export function requireSipp(): void {
  if (!sippAvailable) throw new Error(`sipp not found at ${sippPath}: install sip-tester (CI must run the SIPp suites)`);
}

export interface SippResult {
  code: number | null;
  output: string;
  /** Contents of the -trace_err error log, for failure messages. */
  errors: string;
}

export interface SippRun {
  result: Promise<SippResult>;
  process: ChildProcess;
}

/** A free UDP port, for SIPp's media (-mp) and local SIP port (-p). */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/**
 * A local port for SIPp's main socket on `transport`. A TCP one must be free for TCP: a port the kernel gave a UDP
 * socket can be a TCP connection's at the same moment (the ephemeral ranges are shared, and a busy suite opens
 * thousands of connections), and SIPp then fails to bind it (errno 98, seen in CI). Free for both, for scenarios
 * that also use UDP.
 */
export async function freeSipPort(transport: 'udp' | 'tcp' = 'udp'): Promise<number> {
  if (transport === 'udp') return freeUdpPort();
  for (let attempt = 0; ; attempt++) {
    const server = createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const udp = createSocket('udp4');
    const udpFree = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (udpFree || attempt >= 20) return port;
  }
}

export interface SippOptions {
  scenario: string;
  /** host:port for a UAC; omit for a UAS. */
  remote?: string;
  localPort: number;
  transport?: 'udp' | 'tcp';
  service?: string;
  extra?: string[];
}

export async function startSipp(options: SippOptions): Promise<SippRun> {
  const dir = mkdtempSync(path.join(tmpdir(), 'kefu-sipp-'));
  const mediaPort = await freeUdpPort();
  const args = [
    '-sf', path.join(scenarios, options.scenario),
    '-i', '127.0.0.1',
    '-p', String(options.localPort),
    '-mi', '127.0.0.1',
    '-mp', String(mediaPort),
    '-t', options.transport === 'tcp' ? 't1' : 'u1',
    '-m', '1',
    '-timeout', '20s',
    '-timeout_error',
    '-nostdin',
    '-trace_err',
    '-error_file', path.join(dir, 'errors.log'),
    ...(options.service ? ['-s', options.service] : []),
    ...(options.extra ?? []),
    ...(options.remote ? [options.remote] : []),
  ];
  let output = '';
  const child = execFile(sippPath, args, { cwd: dir, maxBuffer: 16 * 1024 * 1024 });
  child.stdout?.on('data', (d: string) => (output += d));
  child.stderr?.on('data', (d: string) => (output += d));
  const result = new Promise<SippResult>((resolve) => {
    child.on('exit', (code) => {
      let errors = '';
      for (const file of readdirSync(dir)) if (file.endsWith('.log')) errors += readFileSync(path.join(dir, file), 'utf8');
      resolve({ code, output: output.slice(-12_000), errors: errors.slice(-4000) });
    });
  });
  return { result, process: child };
}

export async function runSipp(options: SippOptions): Promise<SippResult> {
  return (await startSipp(options)).result;
}

/** A readable assertion message when SIPp failed. */
export function explain(result: SippResult): string {
  return `sipp exited ${result.code}\n--- errors ---\n${result.errors}\n--- output ---\n${result.output}`;
}

/** How often SIPp received `status` as a retransmission (the Retrans column of its final screen). */
export function retransmissionsReceived(result: SippResult, status: number): number | null {
  const rows = [...result.output.matchAll(new RegExp(`^\\s*${status} <-+\\s+(\\d+)\\s+(\\d+)`, 'gm'))];
  const last = rows.at(-1);
  return last ? Number(last[2]) : null;
}
