// A chat customer's requests as their browser makes them (through fastify inject): the page's Origin, the
// customer's token. The chat specs' shared set-up.
import { randomUUID } from 'node:crypto';
import type { GqlResult, TestKefu } from './kefu.ts';

/** The first error's extensions.code. */
export const codeOf = (r: GqlResult<unknown>) => r.errors?.[0]?.extensions?.code;

/** Requests from a page at `origin`; `kefu` is read at each call (specs start Kefu in beforeAll). */
export function fromPage(kefu: () => TestKefu, origin: string) {
  async function gql<T>(token: string | null, query: string, variables?: Record<string, unknown>): Promise<GqlResult<T>> {
    const res = await kefu().kefu.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'application/json', origin, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      payload: JSON.stringify({ query, variables }),
    });
    return { status: res.statusCode, ...(res.json() as Omit<GqlResult<T>, 'status'>) };
  }
  /** As gql, and fails on any error. */
  async function ok<T>(token: string | null, query: string, variables?: Record<string, unknown>): Promise<T> {
    const r = await gql<T>(token, query, variables);
    if (r.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(r.errors)}`);
    return r.data as T;
  }
  /** A customer starts a chat (a fresh clientChatId, nothing else); its contact id. */
  async function startChat(token: string): Promise<string> {
    const r = await ok<{ startChat: { contactId: string } }>(token, 'mutation($input: StartChatInput!) { startChat(input: $input) { contactId } }', { input: { clientChatId: randomUUID() } });
    return r.startChat.contactId;
  }
  return { gql, ok, startChat };
}
