// Vitest global set-up: a directory for this run's migrated PGlite template (see pglite-template.ts). Only
// the directory is made here; the first spec that starts a Kefu on PGlite builds the template in it, so a
// run of unit specs alone pays nothing. It goes with the run: no template outlives the code that built it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  interface ProvidedContext {
    pgliteTemplateDir: string;
  }
}

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(path.join(tmpdir(), 'kefu-pglite-template-'));
  project.provide('pgliteTemplateDir', dir);
  return () => rmSync(dir, { recursive: true, force: true });
}
