// A migrated PGlite database to copy instead of creating one per Kefu: PGlite's initdb and the migrations
// cost 5-8 s of CPU on a quiet 2-core machine (30-55 s under a loaded CI), opening a copy a tenth of that.
// The template is built once per run, by the first spec that needs it, through Kefu's own openStorage (so
// the migrations still run from zero on PGlite every run), and holds nothing else: no secret, no event, no
// checkpoint. Specs of a first start itself (test/first-start) spawn Kefu on an empty data directory.
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { inject } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { openStorage } from '../../src/main.ts';

/** The run's template directory, from the global set-up; null where a spec runs without it. */
function templateRoot(): string | null {
  try {
    return inject('pgliteTemplateDir') ?? null;
  } catch {
    return null;
  }
}

let built: Promise<string | null> | null = null;

/** The template's `pg` directory, building it if this is the first spec to ask; null when there is none. */
async function migratedTemplate(): Promise<string | null> {
  const root = templateRoot();
  if (!root || !existsSync(root)) return null;
  const pg = path.join(root, 'pg');
  const ready = path.join(root, 'ready');
  const failed = path.join(root, 'failed');
  if (existsSync(ready)) return pg;
  try {
    // Whoever makes this directory builds; the other workers wait for `ready` (or `failed`).
    mkdirSync(path.join(root, 'building'));
  } catch {
    const deadline = Date.now() + 10 * 60_000;
    while (!existsSync(ready) && !existsSync(failed) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    return existsSync(ready) ? pg : null;
  }
  try {
    const build = mkdtempSync(path.join(root, 'build-'));
    const storage = await openStorage(loadConfig({ KEFU_DATA_DIR: build, LOG_LEVEL: 'silent' }));
    await storage.sql.close();
    renameSync(path.join(build, 'pg'), pg);
    rmSync(build, { recursive: true, force: true });
    writeFileSync(ready, '');
    return pg;
  } catch (err) {
    writeFileSync(failed, String(err));
    return null;
  }
}

/**
 * Puts a migrated PGlite database in `dataDir/pg` (where Kefu's createPgliteClient looks) when the run has
 * a template; otherwise leaves `dataDir` empty and Kefu creates the database itself. True when copied.
 */
export async function copyPgliteTemplate(dataDir: string): Promise<boolean> {
  built ??= migratedTemplate();
  const template = await built;
  if (!template) return false;
  cpSync(template, path.join(dataDir, 'pg'), { recursive: true });
  return true;
}
