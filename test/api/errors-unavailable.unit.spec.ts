import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { formatError } from '../../src/api/errors.ts';

function wrapped(original: Error): GraphQLError {
  return new GraphQLError(original.message, { originalError: original });
}

function pgError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('formatError: the store failing is not a bug in the request', () => {
  it.each([
    ['too many clients', pgError('53300', 'sorry, too many clients already')],
    ['connection refused', pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432')],
    ['admin shutdown', pgError('57P01', 'terminating connection due to administrator command')],
    ['deadlock', pgError('40P01', 'deadlock detected')],
    ['pool time-out', new Error('timeout exceeded when trying to connect')],
    ['connection ended', new Error('Connection terminated unexpectedly')],
  ])('%s is SERVICE_UNAVAILABLE with a retry time, and logged', (_name, err) => {
    const logged: unknown[] = [];
    const out = formatError(wrapped(err), (e) => logged.push(e));
    expect(out.extensions).toEqual({ code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: 1 });
    expect(out.message).not.toContain('clients');
    expect(logged).toEqual([err]);
  });

  it.each([
    ['a programming error', new TypeError("Cannot read properties of undefined (reading 'x')")],
    ['a constraint violation', pgError('23505', 'duplicate key value violates unique constraint')],
    ['a message that merely mentions a connection', new Error('the chat connection closed')],
  ])('%s stays INTERNAL_SERVER_ERROR', (_name, err) => {
    const out = formatError(wrapped(err), () => {});
    expect(out.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR' });
    expect(out.message).toBe('Internal server error');
  });
});
