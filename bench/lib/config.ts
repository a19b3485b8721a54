// Benchmark settings come from environment variables, so a run can be made bigger or smaller without edits.

export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${raw}`);
  return n;
}

export function envString(name: string, fallback: string): string {
  const raw = process.env[name];
  return raw === undefined || raw === '' ? fallback : raw;
}

export function envList(name: string): string[] | null {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return null;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** The server every PostgreSQL measurement uses; the bench creates its own databases on it. */
export const adminDatabaseUrl = envString('BENCH_DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/test');
