// One Kefu process per embedded data directory (PGlite has no lock of its own). The lock file names the
// holder by pid AND the process's start time (and the boot), so a killed Kefu's lock is stale at once: a
// dead pid, a pid the kernel gave to another process since, or a killed Kefu its parent has not reaped
// yet (a zombie) never counts as a running Kefu.
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';

export interface DataDirHolder {
  pid: number;
  /** Clock ticks since boot when the process started (/proc/<pid>/stat field 22); null off Linux. */
  startTime: string | null;
  bootId: string | null;
}

export interface DataDirLock {
  release(): void;
}

export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
  readonly dir: string;
  readonly holder: DataDirHolder;
  constructor(dir: string, holder: DataDirHolder) {
    super(
      `KEFU_DATA_DIR ${dir} is in use by another Kefu process (pid ${holder.pid}). The embedded database serves one process; set DATABASE_URL to share a PostgreSQL server.`,
    );
    this.dir = dir;
    this.holder = holder;
  }
}

export function lockFilePath(dir: string): string {
  return path.join(dir, 'kefu.pid');
}

/** Takes the data directory for this process, or throws DataDirInUseError if a live Kefu holds it. */
export function lockDataDir(dir: string): DataDirLock {
  const file = lockFilePath(dir);
  const me = processIdentity(process.pid);
  if (!me) throw new Error(`cannot read this process's own identity (pid ${process.pid})`);
  const body = JSON.stringify(me);
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      // 'wx': created only if absent, so two Kefus starting together cannot both take it.
      const fd = openSync(file, 'wx');
      try {
        writeSync(fd, body);
      } finally {
        closeSync(fd);
      }
      return {
        release() {
          // Only our own lock: never one a later Kefu took after ours was judged stale.
          if (readFileOrNull(file) === body) rmSync(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = dataDirHolder(dir);
    // This very process (a test reopening a directory after a simulated crash) may take it again, as before.
    if (holder && holder.pid !== process.pid) throw new DataDirInUseError(dir, holder);
    // Stale: remove it and try again (another starter may win the next 'wx'; then it is that one's).
    rmSync(file, { force: true });
  }
  throw new Error(`could not take the lock ${file}: it keeps changing (several Kefus starting on one directory?)`);
}

/** The live Kefu that holds `dir`, or null when it is free or its lock is stale. */
export function dataDirHolder(dir: string): DataDirHolder | null {
  const text = readFileOrNull(lockFilePath(dir));
  if (text === null) return null;
  const recorded = parseLock(text);
  if (!recorded) return null;
  return isSameLiveProcess(recorded) ? recorded : null;
}

function parseLock(text: string): DataDirHolder | null {
  const trimmed = text.trim();
  // Kefu before this lock wrote the bare pid.
  if (/^\d+$/.test(trimmed)) return { pid: Number(trimmed), startTime: null, bootId: null };
  try {
    const v = JSON.parse(trimmed) as Partial<DataDirHolder>;
    if (typeof v.pid !== 'number' || !Number.isInteger(v.pid) || v.pid <= 0) return null;
    return { pid: v.pid, startTime: typeof v.startTime === 'string' ? v.startTime : null, bootId: typeof v.bootId === 'string' ? v.bootId : null };
  } catch {
    return null;
  }
}

function isSameLiveProcess(recorded: DataDirHolder): boolean {
  const now = processIdentity(recorded.pid);
  if (now === undefined) return signalable(recorded.pid); // no /proc (not Linux): the pid alone
  if (now === null) return false; // gone, or a zombie
  if (recorded.bootId && now.bootId && recorded.bootId !== now.bootId) return false;
  if (recorded.startTime && now.startTime !== recorded.startTime) return false; // the pid was reused
  return true;
}

/**
 * The process's identity from /proc: null if it does not exist or is dead but not reaped (zombie), undefined
 * when this system has no /proc.
 */
export function processIdentity(pid: number): DataDirHolder | null | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return readFileOrNull('/proc/self/stat') === null ? undefined : null;
  }
  // "pid (comm) state ppid ... starttime": comm may hold spaces and parentheses, so split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  if (state === 'Z' || state === 'X' || state === 'x') return null;
  return { pid, startTime: fields[19] ?? null, bootId: readFileOrNull('/proc/sys/kernel/random/boot_id')?.trim() ?? null };
}

function signalable(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readFileOrNull(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
