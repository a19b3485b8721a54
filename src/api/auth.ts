// Who is calling: the platform operator, an instance's API key, or a logged-in agent/supervisor/admin.
import { SignJWT, jwtVerify, type JWTPayload } from 'jose';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { ForbiddenError, UnauthenticatedError } from '../domain/errors.ts';
import type { ReadModel } from '../projections/projection.ts';
import type { Bus } from '../domain/ports/bus.ts';
import { agentStatusTopic } from '../projections/agents/agents.projection.ts';
import { originAllowed } from '../domain/web-channel/web-channel.ts';
import { randomToken, SecretVerifier, sha256 } from './credentials.ts';

export type Principal =
  | { kind: 'operator' }
  | { kind: 'apiKey'; instanceId: string; keyId: string; role: 'ADMIN' | 'INTEGRATION' }
  | { kind: 'agent'; instanceId: string; agentId: string; role: 'AGENT' | 'SUPERVISOR' | 'ADMIN' }
  | CustomerPrincipal;

/**
 * A chat customer (issue 11), from a web channel's public key: an anonymous visitor (a random id the browser
 * keeps) or a customer verified by the business's HMAC. Customers reach only the customer side of the API:
 * requireInstance refuses them, so no staff or integration operation ever sees one.
 */
export interface CustomerPrincipal {
  kind: 'customer';
  instanceId: string;
  webChannelId: string;
  /** The visitor id (anonymous) or the business's customer id (verified). */
  customerId: string;
  verified: boolean;
  /** The display name the page gave when the session started (never identity); null when none. */
  name?: string | null;
}

/** Staff and integrations of an instance (never the operator, never a customer). */
export type InstancePrincipal = Exclude<Principal, { kind: 'operator' } | { kind: 'customer' }>;

export function actorOf(p: Principal): string {
  switch (p.kind) {
    case 'operator':
      return 'operator';
    case 'apiKey':
      return `apikey:${p.keyId}`;
    case 'agent':
      return `agent:${p.agentId}`;
    case 'customer':
      return `customer:${p.webChannelId}:${p.customerId}`;
  }
}

export function isAdmin(p: Principal): boolean {
  return (p.kind === 'apiKey' && p.role === 'ADMIN') || (p.kind === 'agent' && p.role === 'ADMIN');
}

export function isSupervisor(p: Principal): boolean {
  return isAdmin(p) || (p.kind === 'agent' && p.role === 'SUPERVISOR');
}

export const apiKeyPrefix = 'kefu_';
const apiKeyPattern = /^kefu_([0-9a-f-]{36})\.([A-Za-z0-9_-]+)$/;

export function formatApiKey(keyId: string, secret: string): string {
  return `${apiKeyPrefix}${keyId}.${secret}`;
}

export interface OperatorCredential {
  /** Either the configured token, compared as is, or the scrypt hash kept from the first start. */
  token?: string;
  hash?: string;
}

export class Authenticator {
  private readonly db: ReadModel;
  private readonly operator: OperatorCredential;
  private readonly signingKey: Uint8Array;
  private readonly verifier = new SecretVerifier();
  readonly tokenTtlSeconds: number;
  readonly customerTokenTtlSeconds: number;
  /** The origins a customer principal's channel allowed when its token was checked (for customerOriginAllowed). */
  private readonly customerOrigins = new WeakMap<CustomerPrincipal, string[]>();
  /**
   * Tokens whose signature was checked, with their claims, until they expire: a chatting customer or agent sends
   * the same token with every request, and HS256 with jose costs more than the rest of the check.
   */
  private readonly verifiedTokens = new Map<string, { payload: JWTPayload; until: number }>();
  /**
   * The agent and web channel rows behind tokens, read at most once per cacheMs each (default 1000 ms): a
   * disabled or deleted channel, a rotated identity secret, a deleted agent or a changed role takes effect
   * within cacheMs. Shared by every token of the same agent or channel; concurrent misses share one read.
   * Agent rows are kept longer while a bus tells their changes (see heardMs).
   */
  private readonly rows = new Map<string, { row: Promise<unknown>; until: number }>();
  private readonly cacheMs: number;
  /**
   * Agent rows (issue 11): with a bus, an agent's row read while this process listens to its instance's
   * agentStatus topic is kept up to `heardMs` (default 30 s) instead of cacheMs: the agents projection publishes
   * every change of an agent there after its commit (deletion, role), and hearing it drops the row at once in
   * every process, so the next request reads it again. A row read while a change of that agent was heard is kept
   * only cacheMs (the read may predate the change); a message lost in a NATS reconnect holds at most heardMs.
   * Each of a chat bench's 200 agents re-read its row about every second: the most frequent statement per message.
   */
  private readonly bus: Bus | null;
  private readonly heardMs: number;
  private readonly now: () => number;
  /** Per instance: whether this process listens to its agentStatus topic (true once subscribed). */
  private readonly agentWatches = new Map<string, Promise<boolean>>();
  /** Per agent key: how many changes of it were heard (a read that saw one arrive is not kept long). */
  private readonly agentChanges = new Map<string, number>();

  constructor(deps: {
    db: ReadModel;
    operator: OperatorCredential;
    signingKey: Uint8Array;
    tokenTtlSeconds?: number;
    customerTokenTtlSeconds?: number;
    cacheMs?: number;
    bus?: Bus | null;
    heardMs?: number;
    now?: () => number;
  }) {
    this.db = deps.db;
    this.operator = deps.operator;
    this.signingKey = deps.signingKey;
    this.tokenTtlSeconds = deps.tokenTtlSeconds ?? 12 * 3600;
    this.customerTokenTtlSeconds = deps.customerTokenTtlSeconds ?? 86400;
    this.cacheMs = deps.cacheMs ?? 1000;
    this.bus = deps.bus ?? null;
    this.heardMs = deps.heardMs ?? 30_000;
    this.now = deps.now ?? Date.now;
  }

  /** Called once a change of the agent is in the read model: its tokens are checked against the new row. */
  forgetAgent(instanceId: string, agentId: string): void {
    const key = `agent:${instanceId}:${agentId}`;
    this.rows.delete(key);
    if (this.agentChanges.size >= 50_000) {
      // Bounded: nothing read before is kept longer than cacheMs (its count could look unchanged).
      this.agentChanges.clear();
      for (const k of [...this.rows.keys()]) if (k.startsWith('agent:')) this.rows.delete(k);
    }
    this.agentChanges.set(key, (this.agentChanges.get(key) ?? 0) + 1);
  }

  /**
   * The agent's row as read just now, after a change of it reached the read model (agentAfter): kept as if a
   * token check had read it, so the agent's next request within cacheMs does not read it again (each presence
   * change used to forget it, and the next one waited for that read before its append).
   */
  rememberAgent(instanceId: string, agentId: string, row: { role: string; deleted_at: Date | null; updated_at: Date }): void {
    if (this.cacheMs <= 0) return;
    if (this.rows.size >= 50_000) this.rows.clear();
    // cacheMs only: a change heard between this row's read and now would not be seen.
    this.rows.set(`agent:${instanceId}:${agentId}`, { row: Promise.resolve(row), until: this.now() + this.cacheMs });
  }

  /** Called once a change of the web channel is in the read model: its customers' tokens are checked against the new row. */
  forgetWebChannel(instanceId: string, webChannelId: string): void {
    this.rows.delete(`wc:${instanceId}:${webChannelId}`);
  }

  /** A row read at most once per cacheMs (see `rows`); a failed read is not kept. */
  private cachedRow<T>(key: string, read: () => Promise<T>): Promise<T> {
    const now = this.now();
    const hit = this.rows.get(key);
    if (hit && hit.until > now) return hit.row as Promise<T>;
    const row = read();
    if (this.cacheMs > 0) {
      if (this.rows.size >= 50_000) this.rows.clear();
      this.rows.set(key, { row, until: now + this.cacheMs });
      row.catch(() => {
        if (this.rows.get(key)?.row === row) this.rows.delete(key);
      });
    }
    return row;
  }

  /** A JWT's claims once its signature, issuer and expiry were checked (kept until it expires; see verifiedTokens). */
  private async verifiedPayload(token: string): Promise<JWTPayload> {
    const now = Date.now();
    const hit = this.verifiedTokens.get(token);
    if (hit && hit.until > now) return hit.payload;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.signingKey, { issuer: 'kefu', algorithms: ['HS256'] }));
    } catch {
      throw new UnauthenticatedError('Unknown or expired token');
    }
    // jose checked exp (when present); without one the token is checked again after ten minutes.
    const until = Math.min(typeof payload.exp === 'number' ? payload.exp * 1000 : Infinity, now + 600_000);
    if (this.verifiedTokens.size >= 20_000) this.verifiedTokens.delete(this.verifiedTokens.keys().next().value!);
    this.verifiedTokens.set(token, { payload, until });
    return payload;
  }

  /** The principal behind an `Authorization` header value, or null when there is none. */
  async authenticate(header: string | undefined | null): Promise<Principal | null> {
    // No header, or "Bearer" with nothing after it (what many clients send before login): anonymous.
    if (!header || /^Bearer\s*$/i.test(header)) return null;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw new UnauthenticatedError('The Authorization header must be "Bearer <token>"');
    const token = m[1]!;
    if (apiKeyPattern.test(token)) return this.apiKey(token);
    if (token.startsWith('eyJ')) return this.agentToken(token);
    if (await this.isOperator(token)) return { kind: 'operator' };
    throw new UnauthenticatedError('Unknown or expired token');
  }

  async issueAgentToken(instanceId: string, agentId: string): Promise<{ token: string; expiresAt: Date }> {
    const expiresAt = new Date(Date.now() + this.tokenTtlSeconds * 1000);
    const token = await new SignJWT({ iid: instanceId })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(agentId)
      .setIssuedAt()
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .setIssuer('kefu')
      // Every token its own (RFC 7519 jti): two issued in the same second for the same principal differ.
      .setJti(randomUUID())
      .sign(this.signingKey);
    return { token, expiresAt };
  }

  /**
   * A chat customer's token (issue 11): the agent tokens' key and issuer, told apart by `typ: 'customer'`. A
   * verified customer's token also names the channel's identity secret (a digest of it), so rotating the
   * secret ends the sessions it verified.
   */
  async issueCustomerToken(p: Omit<CustomerPrincipal, 'kind'>, identitySecret: string): Promise<{ token: string; expiresAt: Date }> {
    const expiresAt = new Date(Date.now() + this.customerTokenTtlSeconds * 1000);
    const token = await new SignJWT({ typ: 'customer', iid: p.instanceId, wc: p.webChannelId, ver: p.verified, ...(p.name ? { nm: p.name } : {}), ...(p.verified ? { sv: secretVersion(identitySecret) } : {}) })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(p.customerId)
      .setIssuedAt()
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .setIssuer('kefu')
      // Every token its own (RFC 7519 jti): two issued in the same second for the same principal differ.
      .setJti(randomUUID())
      .sign(this.signingKey);
    return { token, expiresAt };
  }

  /**
   * Whether a customer's request comes from an origin their channel allows (the Origin header's value;
   * exact scheme://host[:port], or the channel allows '*'). Other principals: true.
   */
  async customerOriginAllowed(p: Principal, origin: string | null | undefined): Promise<boolean> {
    if (p.kind !== 'customer') return true;
    let allowed = this.customerOrigins.get(p);
    if (!allowed) allowed = (await this.webChannelRow(p.instanceId, p.webChannelId))?.allowed_origins ?? [];
    return originAllowed(allowed, origin);
  }

  private async customerToken(payload: JWTPayload): Promise<CustomerPrincipal> {
    const instanceId = typeof payload.iid === 'string' ? payload.iid : '';
    const webChannelId = typeof payload.wc === 'string' ? payload.wc : '';
    const customerId = payload.sub ?? '';
    const verified = payload.ver === true;
    const row = await this.webChannelRow(instanceId, webChannelId);
    if (!row || row.deleted_at || !row.enabled || customerId === '') throw new UnauthenticatedError('This chat channel is no longer available; start a new session');
    if (verified && payload.sv !== secretVersion(row.identity_secret)) throw new UnauthenticatedError('The channel\'s identity secret changed; start a new session');
    const principal: CustomerPrincipal = { kind: 'customer', instanceId, webChannelId, customerId, verified, name: typeof payload.nm === 'string' ? payload.nm : null };
    this.customerOrigins.set(principal, row.allowed_origins);
    return principal;
  }

  private webChannelRow(instanceId: string, webChannelId: string) {
    return this.cachedRow(`wc:${instanceId}:${webChannelId}`, () =>
      this.db
        .selectFrom('web_channels')
        .select(['allowed_origins', 'enabled', 'deleted_at', 'identity_secret'])
        .where('instance_id', '=', instanceId)
        .where('id', '=', webChannelId)
        .executeTakeFirst(),
    );
  }

  private async isOperator(token: string): Promise<boolean> {
    if (this.operator.token !== undefined) {
      const a = Buffer.from(sha256(token));
      const b = Buffer.from(sha256(this.operator.token));
      return timingSafeEqual(a, b);
    }
    const hash = this.operator.hash;
    if (!hash) return false;
    return this.verifier.verify(token, hash);
  }

  private async apiKey(token: string): Promise<Principal> {
    const m = apiKeyPattern.exec(token)!;
    const row = await this.db
      .selectFrom('api_keys')
      .innerJoin('instances', 'instances.id', 'api_keys.instance_id')
      .select(['api_keys.id', 'api_keys.instance_id', 'api_keys.role', 'api_keys.secret_hash', 'api_keys.revoked_at'])
      .where('api_keys.id', '=', m[1]!)
      .executeTakeFirst();
    if (!row || row.revoked_at) throw new UnauthenticatedError('Unknown or revoked API key');
    if (!(await this.verifier.verify(m[2]!, row.secret_hash))) throw new UnauthenticatedError('Unknown or revoked API key');
    return { kind: 'apiKey', instanceId: row.instance_id, keyId: row.id, role: row.role as 'ADMIN' | 'INTEGRATION' };
  }

  private async agentToken(token: string): Promise<Principal> {
    const payload = await this.verifiedPayload(token);
    if (payload.typ === 'customer') return this.customerToken(payload);
    if (payload.typ !== undefined) throw new UnauthenticatedError('Unknown or expired token');
    const instanceId = typeof payload.iid === 'string' ? payload.iid : '';
    const agentId = payload.sub ?? '';
    const key = `agent:${instanceId}:${agentId}`;
    const row = await this.cachedRow(key, async () => {
      const listening = this.cacheMs > 0 && this.bus !== null && instanceId !== '' ? await this.watchAgents(instanceId) : false;
      // This read's entry (cachedRow keeps it before the first await ends), and the changes heard before it starts.
      const entry = this.rows.get(key);
      const heard = this.agentChanges.get(key) ?? 0;
      const read = await this.db.selectFrom('agents').select(['role', 'deleted_at', 'updated_at']).where('instance_id', '=', instanceId).where('id', '=', agentId).executeTakeFirst();
      // Kept longer only when listening and no change of the agent was heard while it read (see heardMs).
      if (listening && entry && this.rows.get(key) === entry && (this.agentChanges.get(key) ?? 0) === heard) entry.until = Math.max(entry.until, this.now() + this.heardMs);
      return read;
    });
    if (!row || row.deleted_at) throw new UnauthenticatedError('This agent no longer exists');
    return { kind: 'agent', instanceId, agentId, role: row.role as 'AGENT' | 'SUPERVISOR' | 'ADMIN' };
  }

  /** Listens to the instance's agentStatus topic (once): each change heard drops the agent's kept row. */
  private watchAgents(instanceId: string): Promise<boolean> {
    let watch = this.agentWatches.get(instanceId);
    if (!watch) {
      watch = this.bus!.subscribe(agentStatusTopic(instanceId), (message) => {
        const agentId = (message as { id?: unknown } | null)?.id;
        if (typeof agentId === 'string') return this.forgetAgent(instanceId, agentId);
        // A message of another shape: every kept agent of the instance is read again.
        const prefix = `agent:${instanceId}:`;
        for (const key of [...this.rows.keys()]) if (key.startsWith(prefix)) this.forgetAgent(instanceId, key.slice(prefix.length));
        for (const key of [...this.agentChanges.keys()]) if (key.startsWith(prefix)) this.agentChanges.set(key, this.agentChanges.get(key)! + 1);
      }).then(
        () => true,
        () => {
          // Not listening: rows are kept cacheMs only; the next read tries again.
          this.agentWatches.delete(instanceId);
          return false;
        },
      );
      this.agentWatches.set(instanceId, watch);
    }
    return watch;
  }
}

/** A short digest of a channel's identity secret: a verified customer's token names the secret it was verified with. */
function secretVersion(identitySecret: string): string {
  return createHash('sha256').update(identitySecret).digest('base64url').slice(0, 16);
}

export function requirePrincipal(p: Principal | null): Principal {
  if (!p) throw new UnauthenticatedError('Sign in: send "Authorization: Bearer <token>"');
  return p;
}

export function requireOperator(p: Principal | null): { kind: 'operator' } {
  const principal = requirePrincipal(p);
  if (principal.kind !== 'operator') throw new ForbiddenError('Only the platform operator may do this');
  return principal;
}

/** Any principal of an instance (not the operator, who has no instance of their own). */
export function requireInstance(p: Principal | null): InstancePrincipal {
  const principal = requirePrincipal(p);
  if (principal.kind === 'operator') throw new ForbiddenError('The platform operator acts on instances only through operator operations');
  if (principal.kind === 'customer') throw new ForbiddenError('A chat customer may only use the customer operations');
  return principal;
}

/** A chat customer's own operations. */
export function requireCustomer(p: Principal | null): CustomerPrincipal {
  const principal = requirePrincipal(p);
  if (principal.kind !== 'customer') throw new ForbiddenError('Only a chat customer (a session from startCustomerSession) may do this');
  return principal;
}

export function requireAdmin(p: Principal | null): InstancePrincipal {
  const principal = requireInstance(p);
  if (!isAdmin(principal)) throw new ForbiddenError('Only an instance admin may do this');
  return principal;
}

export function requireSupervisor(p: Principal | null): InstancePrincipal {
  const principal = requireInstance(p);
  if (!isSupervisor(principal)) throw new ForbiddenError('Only a supervisor or admin may do this');
  return principal;
}

export { randomToken };
