import type { Comparison, ResultRow } from './report.ts';

/** A benchmark that bench/run.ts runs: its result rows go into its own section of bench/RESULTS.md. */
export interface BenchModule {
  /** Section name in RESULTS.md, and the key for BENCH_ONLY. */
  name: string;
  title: string;
  /** Markdown placed above the tables: the workload and the sizes used. */
  describe(): string;
  /** The ratio column, if the module compares two systems. */
  comparison: Comparison | null;
  run(): Promise<ResultRow[]>;
}
