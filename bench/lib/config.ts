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

/**
 * The settings every bench's server child starts Kefu with: on DATABASE_URL (or the embedded database in
 * `dataDir`), listening on 127.0.0.1 on a free port, SIP off, silent; `extra` adds or overrides.
 */
export function benchKefuSettings(dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    KEFU_OPERATOR_TOKEN: process.env.KEFU_OPERATOR_TOKEN ?? '',
    LOG_LEVEL: 'silent',
    PORT: '0',
    HOST: '127.0.0.1',
    KEFU_SIP: 'off',
    KEFU_DATA_DIR: dataDir,
    ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    ...extra,
  };
}

/** The per-visitor and per-address chat limits off: every bench client comes from 127.0.0.1. */
export const chatLimitsOff: Record<string, string> = {
  KEFU_CHAT_LIMIT_SESSION: '0',
  KEFU_CHAT_LIMIT_CHAT: '0',
  KEFU_CHAT_LIMIT_MESSAGE: '0',
  KEFU_CHAT_LIMIT_CHAT_PER_ADDRESS: '0',
  KEFU_CHAT_LIMIT_MESSAGE_PER_ADDRESS: '0',
};
