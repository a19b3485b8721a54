// Opaque page cursors for lists ordered by (created_at, id): base64url of [ISO time, id].
import { ValidationError } from '../domain/errors.ts';

export function encodeCursor(row: { created_at: Date | string; id: string }): string {
  return Buffer.from(JSON.stringify([new Date(row.created_at).toISOString(), row.id])).toString('base64url');
}

/** The [createdAt, id] a cursor stands for; BAD_USER_INPUT on `after` for anything else. */
export function decodeCursor(cursor: string): [string, string] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string' && !Number.isNaN(Date.parse(v[0]))) {
      return [v[0], v[1]];
    }
  } catch {
    // not JSON: same answer as any other foreign cursor
  }
  throw new ValidationError('after', 'not a cursor from this API');
}
