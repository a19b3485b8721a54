import { defineConfig } from 'vitest/config';

// Unit specs that need a process of their own: the AV and WebRTC ones (Kefu's media code patches werift's classes
// when it is imported, and those specs compare werift's own functions, taken at import, with the patches) and
// the ones that measure the heap (another file's garbage in a shared worker would count against them).
const isolatedUnits = ['test/av/**/*.unit.spec.ts', 'test/webrtc/**/*.unit.spec.ts', 'src/adapters/webrtc/**/*.unit.spec.ts', 'test/api/csv-export.unit.spec.ts'];

export default defineConfig({
  resolve: {
    // One graphql for mercurius (CommonJS) and Kefu: its ESM build would be a second copy with other classes.
    alias: [{ find: /^graphql$/, replacement: new URL('./node_modules/graphql/index.js', import.meta.url).pathname }],
  },
  test: {
    // One migrated PGlite database per run, copied by each Kefu a spec starts (test/support/pglite-template.ts).
    globalSetup: ['test/support/pglite-template.setup.ts'],
    // Generous: e2e tests start real Kefu processes, and a fresh embedded database takes seconds on 2 cores.
    testTimeout: 120_000,
    // Set-ups start a Kefu, seed it and wait out ring timeouts: with both CPUs busy (six engineers' runs on
    // one 2-core machine) the call-records set-up on PGlite took over 120 s while doing nothing wrong.
    hookTimeout: 300_000,
    // Integration suites share one PostgreSQL server and NATS; each uses its own schema or database.
    fileParallelism: true,
    maxWorkers: 2,
    projects: [
      // The pure specs share their workers' module graph (no new process and imports per file): they keep no
      // state between files. Their project sorts after "integration", so these short files fill the end of a run.
      // Not the isolatedUnits (see above): they run in the unit-isolated project, a process per file.
      { extends: true, test: { name: 'unit', include: ['test/**/*.unit.spec.ts', 'src/**/*.unit.spec.ts'], exclude: [...isolatedUnits, '**/node_modules/**'], isolate: false } },
      { extends: true, test: { name: 'unit-isolated', include: isolatedUnits } },
      { extends: true, test: { name: 'integration', include: ['test/**/*.spec.ts', 'src/**/*.spec.ts'], exclude: ['**/*.unit.spec.ts', '**/node_modules/**'] } },
    ],
  },
});
