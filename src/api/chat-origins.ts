// The customer side's origins (issue 11). A chat customer's requests must come from a page on an origin their
// web channel allows: every request made with a customer token (GraphQL over HTTP, /chat/* routes; the
// graphql-ws connection checks it at connection_init), and startCustomerSession itself. Browsers on such
// pages get CORS answers (preflight and actual) for /graphql and /chat/*; other origins get none.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { DomainError } from '../domain/errors.ts';
import { normalizeOrigin } from '../domain/web-channel/web-channel.ts';
import type { ReadModel } from '../projections/projection.ts';
import type { Principal } from './auth.ts';
import type { ApiDeps } from './context.ts';

const corsPaths = /^\/(graphql|chat\/)/;

/**
 * Whether some live web channel (of any instance) allows this origin. Answers are kept a little while (a
 * channel's new origin gets CORS answers within a second, a removed one loses them within five); customer
 * tokens' own origin checks read the channel every time.
 */
export class ChannelOrigins {
  private readonly answers = new Map<string, { allowed: boolean; until: number }>();
  /**
   * The read under way for an origin: the requests arriving while it runs wait for it instead of each sending
   * its own (when an answer expired, every request of a busy chat site did: 0.1-0.2 statements per chat message).
   */
  private readonly reading = new Map<string, Promise<boolean>>();
  private readonly db: ReadModel;
  constructor(db: ReadModel) {
    this.db = db;
  }

  anyAllows(origin: string): boolean | Promise<boolean> {
    const n = normalizeOrigin(origin);
    if (!('origin' in n) || n.origin === '*') return false;
    const known = this.answers.get(n.origin);
    if (known && known.until > Date.now()) return known.allowed;
    let read = this.reading.get(n.origin);
    if (!read) {
      read = this.read(n.origin).finally(() => this.reading.delete(n.origin));
      this.reading.set(n.origin, read);
    }
    return read;
  }

  private async read(origin: string): Promise<boolean> {
    const started = Date.now();
    const row = await this.db
      .selectFrom('web_channels')
      .select('id')
      .where('deleted_at', 'is', null)
      .where('enabled', '=', true)
      .where(sql<boolean>`(allowed_origins @> ${JSON.stringify([origin])}::jsonb OR allowed_origins @> '["*"]'::jsonb)`)
      .limit(1)
      .executeTakeFirst();
    if (this.answers.size > 10_000) this.answers.clear();
    this.answers.set(origin, { allowed: row !== undefined, until: started + (row ? 5000 : 1000) });
    return row !== undefined;
  }
}

function originOf(request: FastifyRequest): string | null {
  const origin = request.headers.origin;
  return typeof origin === 'string' && origin !== '' ? origin : null;
}

/** A page served by Kefu itself (the demo agent page) sends its own origin: no CORS to answer. */
function sameOrigin(request: FastifyRequest, origin: string): boolean {
  const host = request.headers.host;
  return typeof host === 'string' && (origin === `http://${host}` || origin === `https://${host}`);
}

const refusedMessage = 'This page\'s origin is not allowed for the chat channel (set its allowed origins)';

/**
 * Adds the hooks: CORS for /graphql and /chat/*, and the origin check of customer requests to /chat/* (the
 * /graphql check runs after its authentication: checkCustomerOrigin). Call it on the root app.
 */
export function addChatOriginHooks(app: FastifyInstance, deps: ApiDeps): void {
  const origins = new ChannelOrigins(deps.db);
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url;
    if (!corsPaths.test(path)) return;
    const origin = originOf(request);
    if (origin !== null && !sameOrigin(request, origin) && (await origins.anyAllows(origin))) {
      void reply.header('access-control-allow-origin', origin);
      void reply.header('vary', 'Origin');
      void reply.header('access-control-expose-headers', 'retry-after');
      if (request.method === 'OPTIONS') {
        const asked = request.headers['access-control-request-headers'];
        return reply
          .code(204)
          .header('access-control-allow-methods', 'GET, POST, OPTIONS')
          .header('access-control-allow-headers', typeof asked === 'string' && /^[\w\s,-]{0,500}$/.test(asked) ? asked : 'authorization, content-type')
          .header('access-control-max-age', '600')
          .send();
      }
    } else if (request.method === 'OPTIONS' && origin !== null) {
      // A preflight from a page no channel allows: no CORS headers, so the browser stops there.
      return reply.code(403).send({ error: { code: 'FORBIDDEN', message: refusedMessage } });
    }
    // /chat/* (uploads, files): a customer's token must come from an origin of their channel. Refused before
    // any upload is read. Other failures are the route's to answer.
    if (path.startsWith('/chat/') && /^Bearer\s+eyJ/i.test(request.headers.authorization ?? '')) {
      let principal: Principal | null = null;
      try {
        principal = await deps.auth.authenticate(request.headers.authorization);
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
      }
      if (principal && !(await deps.auth.customerOriginAllowed(principal, origin))) {
        return reply.code(403).send({ error: { code: 'FORBIDDEN', message: refusedMessage } });
      }
    }
  });
}

/**
 * After /graphql's authentication: a customer token from an origin its channel does not allow is refused
 * (403, FORBIDDEN). Returns the reply sent, or undefined to go on.
 */
export async function checkCustomerOrigin(deps: ApiDeps, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  const principal = request.principal;
  if (!principal || principal.kind !== 'customer') return undefined;
  if (await deps.auth.customerOriginAllowed(principal, originOf(request))) return undefined;
  return reply.code(403).send({ data: null, errors: [{ message: refusedMessage, extensions: { code: 'FORBIDDEN' } }] });
}

/** For the graphql-ws connection_init: the principal, or null (refused) for a customer from another origin. */
export async function connectionPrincipal(deps: Pick<ApiDeps, 'auth'>, header: unknown, origin: string | null | undefined): Promise<Principal | null> {
  let principal: Principal | null;
  try {
    principal = await deps.auth.authenticate(typeof header === 'string' ? header : null);
  } catch {
    return null;
  }
  if (!principal) return null;
  return (await deps.auth.customerOriginAllowed(principal, origin)) ? principal : null;
}
