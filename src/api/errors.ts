// Maps errors to GraphQL errors with extensions.code; never a stack trace or an internal message.
import mercurius from 'mercurius';
import type { GraphQLError } from 'graphql';
import { DomainError, RateLimitedError, ValidationError } from '../domain/errors.ts';
import { QuickReplyImportError } from '../domain/quick-reply/quick-reply-list.decide.ts';
import { inputFieldOf } from './input-field.ts';
import { ScalarValueError } from './scalars.ts';

const { ErrorWithProps } = mercurius;

/**
 * The HTTP status of each domain error in Kefu's plain HTTP routes (uploads, files, exports). READ_MODEL_BEHIND is
 * 202: the request was accepted and stored; what it made shows once the read models catch up.
 */
export const httpStatusOf: Record<DomainError['code'], number> = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  RATE_LIMITED: 429,
  READ_MODEL_BEHIND: 202,
};

export function toGraphQLError(err: unknown): Error {
  if (err instanceof DomainError) {
    const extensions: Record<string, unknown> = { code: err.code };
    if (err instanceof ValidationError) extensions.field = err.field;
    if (err instanceof RateLimitedError) extensions.retryAfterSeconds = err.retryAfterSeconds;
    if (err instanceof QuickReplyImportError) extensions.rows = err.rows.map((r) => ({ row: r.row, field: r.field, message: r.problem }));
    return new ErrorWithProps(err.message, extensions);
  }
  return err as Error;
}

// Not instanceof: a bundler may load graphql twice (CommonJS for mercurius, ESM here).
function isGraphQLError(e: unknown): boolean {
  return !!e && typeof e === 'object' && (e as Error).name === 'GraphQLError';
}

function scalarValueErrorIn(error: GraphQLError): ScalarValueError | null {
  let e: unknown = error;
  for (let i = 0; i < 4 && e; i++) {
    if (e instanceof ScalarValueError) return e;
    e = (e as { originalError?: unknown }).originalError;
  }
  return null;
}

interface FormattedError {
  message: string;
  locations?: unknown;
  path?: unknown;
  extensions?: Record<string, unknown>;
}

/** Gives every error a code. Errors with no known origin are logged and shown as INTERNAL_SERVER_ERROR. */
export function formatError(error: GraphQLError, log: (err: unknown) => void): FormattedError {
  const original = error.originalError as (Error & { extensions?: Record<string, unknown> }) | undefined;
  const base = { message: error.message, locations: error.locations, path: error.path };
  // A scalar (DateTime, JSON) refused a value: graphql-js wraps the ScalarValueError once or twice.
  const refused = scalarValueErrorIn(error);
  if (refused) return { ...base, extensions: { code: 'BAD_USER_INPUT', field: inputFieldOf(error, refused.path) ?? undefined } };
  if (original instanceof DomainError) return { ...base, extensions: (toGraphQLError(original) as { extensions?: Record<string, unknown> }).extensions };
  if (original && original instanceof ErrorWithProps) return { ...base, extensions: original.extensions };
  if (!original || isGraphQLError(original)) {
    // Parse and validation errors: the query itself is wrong.
    const code = (error.extensions?.code as string | undefined) ?? 'BAD_USER_INPUT';
    const field = error.extensions?.field ?? inputFieldOf(error) ?? undefined;
    return { ...base, extensions: { ...error.extensions, code, ...(field === undefined ? {} : { field }) } };
  }
  const status = (original as { statusCode?: number }).statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    // The request itself is wrong (an empty or malformed body, a method not allowed).
    return { ...base, extensions: { code: status === 401 ? 'UNAUTHENTICATED' : 'BAD_USER_INPUT' } };
  }
  log(original);
  if (isUnavailable(original)) {
    // The database or the bus failed, not the request: the client may send it again (a retried send is stored
    // once, by its client id).
    return { message: 'Service unavailable, try again', locations: error.locations, path: error.path, extensions: { code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: 1 } };
  }
  return { message: 'Internal server error', locations: error.locations, path: error.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
}

/**
 * Whether a failure is the store's or the connection's, not the request's: PostgreSQL's connection exceptions
 * (08), too many connections and other insufficient resources (53), shutdowns (57P01-57P03), a deadlock or a
 * serialization failure (40001, 40P01), Node's socket errors, and pg's pool time-out or closed connection.
 */
export function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (/^(08|53)|^57P0[1-3]$|^40001$|^40P01$/.test(code)) return true;
    if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH)$/.test(code)) return true;
  }
  return err instanceof Error && /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/i.test(err.message);
}
