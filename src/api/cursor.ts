// Opaque page cursors for lists ordered by (created_at, id): base64url of [ISO time, id].
//
// Cursors are checked, not signed: decoding verifies the shape of a real cursor (an RFC 3339 time within
// what the stores hold, and a UUID), so nothing else reaches SQL. A signature would add nothing a client
// could abuse: a cursor only says where a page starts in a list that the query already scopes to the
// caller's instance and role, and any well-formed position is a legitimate place to start. Signing would
// also need a key shared by every API node and would break cursors across a key rotation.
import { ValidationError } from '../domain/errors.ts';
import { cursorPosition } from '../domain/values.ts';

export function encodeCursor(row: { created_at: Date | string; id: string }): string {
  return Buffer.from(JSON.stringify([new Date(row.created_at).toISOString(), row.id])).toString('base64url');
}

/**
 * One page of a connection from rows fetched with `first + 1` (the extra row only says a next page exists),
 * each edge's cursor made from the row's (created_at, id) position.
 */
export function pageOf<R, N>(rows: R[], first: number, position: (row: R) => { created_at: Date | string; id: string }, node: (row: R) => N) {
  const edges = rows.slice(0, first).map((row) => ({ cursor: encodeCursor(position(row)), node: node(row) }));
  return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
}

/** The [createdAt (ISO), id] a cursor stands for; BAD_USER_INPUT on `after` for anything else. */
export function decodeCursor(cursor: string): [string, string] {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    // not JSON: same answer as any other foreign cursor
  }
  const position = cursorPosition.safeParse(decoded);
  if (!position.success) throw new ValidationError('after', 'not a cursor from this API');
  const [at, id] = position.data;
  return [at.toISOString(), id];
}
