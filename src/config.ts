// Every setting in one place, checked with zod. Each has a default for the embedded run; a wrong one stops
// start-up with a message that names it.
import { z } from 'zod';

const url = (schemes: string[]) =>
  z
    .string()
    .trim()
    .refine((v) => {
      try {
        return v.split(',').every((part) => schemes.includes(new URL(part.trim()).protocol));
      } catch {
        return false;
      }
    }, `must be a URL starting with ${schemes.map((s) => `${s}//`).join(' or ')}`);

const emptyAsUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

export const configSchema = z.object({
  PORT: z.coerce.number().int('must be a whole number').min(0, 'must be 0 to 65535').max(65535, 'must be 0 to 65535').default(4000),
  HOST: z.string().trim().min(1, 'must not be empty').default('127.0.0.1'),
  DATABASE_URL: z.preprocess(emptyAsUndefined, url(['postgres:', 'postgresql:']).optional()),
  KEFU_DATA_DIR: z.string().trim().min(1, 'must not be empty').default('./data'),
  EVENTSTORE_URL: z.preprocess(emptyAsUndefined, url(['esdb:', 'esdb+discover:', 'kurrentdb:', 'kurrentdb+discover:']).optional()),
  NATS_URL: z.preprocess(emptyAsUndefined, url(['nats:', 'tls:', 'ws:', 'wss:']).optional()),
  KEFU_OPERATOR_TOKEN: z.preprocess(emptyAsUndefined, z.string().min(16, 'must be at least 16 characters').optional()),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { message: 'must be one of fatal, error, warn, info, debug, trace, silent' }).default('info'),
  KEFU_TOKEN_TTL_SECONDS: z.coerce.number().int('must be a whole number').min(60, 'must be at least 60').max(30 * 86400, 'must be at most 2592000').default(43200),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(env: Record<string, string | undefined>): Config {
  const result = configSchema.safeParse(env);
  if (result.success) return result.data;
  const secret = new Set(['KEFU_OPERATOR_TOKEN', 'DATABASE_URL', 'EVENTSTORE_URL', 'NATS_URL']);
  const lines = result.error.issues.map((i) => {
    const key = String(i.path[0]);
    return `  ${key}: ${i.message}${secret.has(key) ? '' : ` (got ${JSON.stringify(env[key] ?? null)})`}`;
  });
  throw new ConfigError(`Kefu cannot start: wrong settings\n${lines.join('\n')}`);
}
