import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // One graphql for mercurius (CommonJS) and Kefu: its ESM build would be a second copy with other classes.
    alias: [{ find: /^graphql$/, replacement: new URL('./node_modules/graphql/index.js', import.meta.url).pathname }],
  },
  test: {
    include: ['test/**/*.spec.ts', 'src/**/*.spec.ts'],
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
  },
});
