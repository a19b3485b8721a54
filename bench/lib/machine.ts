// What the numbers were measured on.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { serverInfo } from './pg-admin.ts';

export interface MachineInfo {
  date: string;
  cpus: string;
  cpuModel: string;
  memory: string;
  node: string;
  postgres: string;
  postgresSettings: string;
  /** Linux pressure stall information for CPU and IO before the run; high values mean a busy or throttled host. */
  pressure: string | null;
}

function run(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

export async function machineInfo(): Promise<MachineInfo> {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = m[1]!.trim();
  } catch {
    // Not Linux: keep os.cpus().
  }
  let postgres: string;
  let postgresSettings = '';
  try {
    const s = await serverInfo();
    postgres = s.version;
    postgresSettings = Object.entries(s.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ');
  } catch (err) {
    postgres = `unavailable (${(err as Error).message})`;
  }
  let pressure: string | null = null;
  try {
    const some = (f: string) => /^some avg10=([\d.]+) avg60=([\d.]+)/m.exec(readFileSync(f, 'utf8'));
    const cpu = some('/proc/pressure/cpu');
    const io = some('/proc/pressure/io');
    if (cpu && io) pressure = `cpu some avg10=${cpu[1]}% avg60=${cpu[2]}%, io some avg10=${io[1]}% avg60=${io[2]}%`;
  } catch {
    // No PSI on this kernel.
  }
  return {
    pressure,
    date: run('date', ['-u']) ?? new Date().toUTCString(),
    cpus: run('nproc', []) ?? String(os.availableParallelism()),
    cpuModel,
    memory: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    node: process.version,
    postgres,
    postgresSettings,
  };
}
