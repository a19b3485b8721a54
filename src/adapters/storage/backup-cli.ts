// Backup and restore of the embedded database (PGlite in KEFU_DATA_DIR: the events and every read model),
// as one file made by PGlite's own dumpDataDir (a gzipped tar of its data directory).
//   npm run backup -- <file> [--force]     Kefu must be stopped (the embedded database serves one process)
//   npm run restore -- <file> [--force]    into KEFU_DATA_DIR; refused while a Kefu uses it; --force replaces
//                                          an existing database (kept beside it as pg.replaced-<time>)
// Recordings and chat uploads are files under KEFU_DATA_DIR (recordings/, chat-files/, audio/): copy them
// with the directory. With DATABASE_URL (PostgreSQL) use pg_dump / pg_restore instead.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../../config.ts';
import { DataDirInUseError, lockDataDir } from '../sql/data-dir-lock.ts';

export class BackupError extends Error {
  override readonly name = 'BackupError';
}

function databaseDir(dataDir: string): string {
  return path.join(dataDir, 'pg');
}

function hasDatabase(dataDir: string): boolean {
  const dir = databaseDir(dataDir);
  return existsSync(dir) && readdirSync(dir).length > 0;
}

/** Writes the embedded database of `dataDir` to `file`. Returns its size in bytes. */
export async function backupEmbeddedDatabase(dataDir: string, file: string, options: { force?: boolean } = {}): Promise<number> {
  if (!hasDatabase(dataDir)) throw new BackupError(`no embedded database in ${dataDir} (KEFU_DATA_DIR): nothing to back up`);
  if (existsSync(file) && !options.force) throw new BackupError(`${file} exists: choose another file or add --force to overwrite it`);
  const lock = takeLock(dataDir, 'back it up');
  try {
    const { PGlite } = await import('@electric-sql/pglite');
    const db = await PGlite.create(databaseDir(dataDir));
    let dump: Blob;
    try {
      dump = await db.dumpDataDir('gzip');
    } finally {
      await db.close();
    }
    const bytes = Buffer.from(await dump.arrayBuffer());
    // Written beside the target, then renamed: a failed backup never leaves half a file under its name.
    const partial = `${file}.partial-${process.pid}`;
    writeFileSync(partial, bytes);
    renameSync(partial, file);
    return bytes.length;
  } finally {
    lock.release();
  }
}

/** Loads `file` (made by backupEmbeddedDatabase) as the embedded database of `dataDir`. */
export async function restoreEmbeddedDatabase(file: string, dataDir: string, options: { force?: boolean } = {}): Promise<{ replaced: string | null }> {
  if (!existsSync(file) || !statSync(file).isFile()) throw new BackupError(`no backup file ${file}`);
  mkdirSync(dataDir, { recursive: true });
  const lock = takeLock(dataDir, 'restore into it');
  try {
    if (hasDatabase(dataDir) && !options.force) {
      throw new BackupError(`${dataDir} (KEFU_DATA_DIR) already holds a database: restore into an empty directory, or add --force to replace it (the old one is kept beside it)`);
    }
    const { PGlite } = await import('@electric-sql/pglite');
    const staging = path.join(dataDir, `pg.restoring-${process.pid}`);
    rmSync(staging, { recursive: true, force: true });
    try {
      const db = await PGlite.create({ dataDir: staging, loadDataDir: new Blob([readFileSync(file)]) });
      // A backup that opens but is not Kefu's is refused too.
      const r = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'kefu_events'");
      await db.close();
      if (r.rows[0]?.n !== 1) throw new BackupError(`${file} is a database, but not a Kefu backup (no kefu_events table)`);
    } catch (err) {
      rmSync(staging, { recursive: true, force: true });
      if (err instanceof BackupError) throw err;
      throw new BackupError(`${file} is not a backup Kefu can read: ${err instanceof Error ? err.message : String(err)}`);
    }
    let replaced: string | null = null;
    if (existsSync(databaseDir(dataDir))) {
      replaced = path.join(dataDir, `pg.replaced-${new Date().toISOString().replace(/[:.]/g, '-')}`);
      renameSync(databaseDir(dataDir), replaced);
    }
    renameSync(staging, databaseDir(dataDir));
    return { replaced };
  } finally {
    lock.release();
  }
}

function takeLock(dataDir: string, what: string) {
  try {
    return lockDataDir(dataDir);
  } catch (err) {
    if (err instanceof DataDirInUseError) throw new BackupError(`a Kefu (pid ${err.holder.pid}) is using ${dataDir}: stop it to ${what}`);
    throw err;
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const force = rest.includes('--force');
  const files = rest.filter((a) => a !== '--force');
  if ((command !== 'backup' && command !== 'restore') || files.length !== 1 || rest.some((a) => a.startsWith('--') && a !== '--force')) {
    console.error('usage: npm run backup -- <file> [--force]   |   npm run restore -- <file> [--force]');
    return 2;
  }
  const config = loadConfig(process.env);
  if (config.DATABASE_URL) {
    console.error('DATABASE_URL is set: Kefu uses PostgreSQL, back it up with pg_dump and restore it with pg_restore (this tool is for the embedded database)');
    return 2;
  }
  const dataDir = path.resolve(config.KEFU_DATA_DIR);
  const file = path.resolve(files[0]!);
  if (command === 'backup') {
    const size = await backupEmbeddedDatabase(dataDir, file, { force });
    console.log(`backed up the embedded database of ${dataDir} to ${file} (${size} bytes)`);
  } else {
    const { replaced } = await restoreEmbeddedDatabase(file, dataDir, { force });
    console.log(`restored ${file} into ${dataDir}${replaced ? `; the database it replaced is in ${replaced}` : ''}`);
  }
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof BackupError || err instanceof ConfigError ? err.message : `backup failed: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
