import type { Comparison, Goal, ResultRow } from './report.ts';

/** A benchmark that bench/run.ts runs: its result rows go into its own section of bench/RESULTS.md. */
export interface BenchModule {
  /** Section name in RESULTS.md, and the key for BENCH_ONLY. */
  name: string;
  title: string;
  /** Markdown placed above the tables: the workload and the sizes used. */
  describe(): string;
  /** The ratio column, if the module compares two systems. */
  comparison: Comparison | null;
  /** A target throughput, if the module is held to one: the table gets a ratio column against it. */
  goal?: Goal;
  run(): Promise<ResultRow[]>;
  /** Markdown placed below the tables, after a run (e.g. where the time went, checks made). */
  notes?(): string;
}
