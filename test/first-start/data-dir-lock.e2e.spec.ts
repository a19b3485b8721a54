// The embedded database's lock never blocks a restart after a crash: a killed Kefu's lock is stale at once,
// even when its pid was given to another process or the killed Kefu is a zombie its parent has not reaped;
// a live Kefu on the directory is still refused (test/e2e/startup.e2e.spec.ts also checks that over HTTP).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DataDirInUseError, dataDirHolder, lockDataDir, lockFilePath, processIdentity } from '../../src/adapters/sql/data-dir-lock.ts';
import { okHttp, seedOverHttp, spawnKefu } from '../support/process.ts';
import { until } from '../support/until.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const operatorToken = 'data-dir-lock-operator-token';

/** `sh -c '<command> & exec sleep'`: the command's parent becomes a sleep that never reaps it, so once killed it stays a zombie. */
function underNonReapingParent(command: string, env: Record<string, string>): { parent: ChildProcess; output: () => string; stop: () => Promise<void> } {
  const parent = spawn('sh', ['-c', `${command} & exec sleep 600`], { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  parent.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  parent.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => parent.once('exit', () => resolve()));
  return {
    parent,
    output: () => out,
    async stop() {
      // This test's own process group: the sleep, and with it the zombie goes.
      if (parent.exitCode === null && parent.signalCode === null && parent.pid) process.kill(-parent.pid, 'SIGKILL');
      await exited;
    },
  };
}

function recordedPid(dir: string): number {
  return (JSON.parse(readFileSync(lockFilePath(dir), 'utf8')) as { pid: number }).pid;
}

function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!;
  } catch {
    return null;
  }
}

describe('the embedded data directory lock', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  const tempDir = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kefu-lock-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  };

  it('names this process with its start time and is gone after release', () => {
    const dir = tempDir();
    const lock = lockDataDir(dir);
    expect(dataDirHolder(dir)).toEqual(processIdentity(process.pid));
    expect(dataDirHolder(dir)?.startTime).toMatch(/^\d+$/);
    lock.release();
    expect(dataDirHolder(dir)).toBeNull();
  });

  it('is stale when its pid now belongs to another process (a reused pid)', async () => {
    const dir = tempDir();
    const other = spawn('sleep', ['600'], { stdio: 'ignore' });
    cleanups.push(() => void other.kill('SIGKILL'));
    const live = processIdentity(other.pid!)!;
    // What a Kefu with that pid, started at another time, would have written.
    writeFileSync(lockFilePath(dir), JSON.stringify({ ...live, startTime: String(Number(live.startTime) - 12345) }));
    expect(dataDirHolder(dir)).toBeNull();
    lockDataDir(dir).release();
    // The same record with the right start time is that live process: refused.
    writeFileSync(lockFilePath(dir), JSON.stringify(live));
    expect(() => lockDataDir(dir)).toThrow(DataDirInUseError);
  });

  it('refuses a live holder and takes over at once when it is killed, though its parent has not reaped it (zombie)', async () => {
    const dir = tempDir();
    const holder = underNonReapingParent(
      `${JSON.stringify(process.execPath)} -e 'import("./src/adapters/sql/data-dir-lock.ts").then((m) => { m.lockDataDir(process.env.DIR); console.log("locked"); setInterval(() => {}, 1000); })'`,
      { DIR: dir },
    );
    cleanups.push(holder.stop);
    await until(async () => holder.output(), (o) => o.includes('locked'), 60_000);
    const pid = recordedPid(dir);
    expect(() => lockDataDir(dir)).toThrow(/in use by another Kefu process \(pid \d+\)/);
    process.kill(pid, 'SIGKILL');
    await until(async () => procState(pid), (s) => s === 'Z', 30_000);
    // Still in the process table, signalable by kill(pid, 0): only the state says it is dead.
    expect(() => process.kill(pid, 0)).not.toThrow();
    const lock = lockDataDir(dir);
    expect(dataDirHolder(dir)?.pid).toBe(process.pid);
    lock.release();
  });

  it('kill -9 of a Kefu, then an immediate restart on the same directory, keeps the data', async () => {
    const dir = tempDir();
    const env = { PORT: '0', LOG_LEVEL: 'info', KEFU_SIP: 'off', KEFU_DATA_DIR: dir, KEFU_OPERATOR_TOKEN: operatorToken };
    const first = underNonReapingParent(`${JSON.stringify(process.execPath)} src/main.ts`, env);
    cleanups.push(first.stop);
    const url = (await until(async () => /"graphql":"(http:\/\/[^"]+)\/graphql"/.exec(first.output()), (m) => m !== null, 90_000))![1]!;
    await until(async () => (await fetch(`${url}/readyz`).catch(() => null))?.ok ?? false, (ok) => ok, 90_000);
    const seed = await seedOverHttp(url, operatorToken);
    const pid = recordedPid(dir);
    process.kill(pid, 'SIGKILL');
    await until(async () => procState(pid), (s) => s === 'Z', 30_000);

    const second = await spawnKefu({ KEFU_DATA_DIR: dir, KEFU_OPERATOR_TOKEN: operatorToken });
    try {
      const agent = await okHttp<{ agent: { id: string; name: string } }>(second.url, seed.adminKey, 'query($id: ID!) { agent(id: $id) { id name } }', { id: seed.agentId });
      expect(agent.agent).toEqual({ id: seed.agentId, name: 'Ann' });
      // And while it runs, a third is refused.
      await expect(spawnKefu({ KEFU_DATA_DIR: dir, KEFU_OPERATOR_TOKEN: operatorToken })).rejects.toThrow(/in use by another Kefu process/);
    } finally {
      await second.stop();
    }
  });
});
