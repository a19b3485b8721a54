// Who is calling: the platform operator, an instance's API key, or a logged-in agent/supervisor/admin.
import { SignJWT, jwtVerify, type JWTPayload } from 'jose';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { ForbiddenError, UnauthenticatedError } from '../domain/errors.ts';
import type { ReadModel } from '../projections/projection.ts';
import type { Bus } from '../domain/ports/bus.ts';
import { agentStatusTopic } from '../projections/agents/agents.projection.ts';
import { KeptUntilHeard } from './kept-until-heard.ts';
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
   * The web channel rows behind customers' tokens, read at most once per cacheMs each (default 1000 ms): a disabled
   * or deleted channel or a rotated identity secret takes effect within cacheMs. Shared by every token of the same
   * channel; concurrent misses share one read. Keys `<instanceId>/<webChannelId>`.
   */
  private readonly webChannelRows: KeptUntilHeard<WebChannelRow | undefined>;
  private readonly cacheMs: number;
  /**
   * The agent rows behind agents' tokens (issue 11), keys `<instanceId>/<agentId>`: read at most once per cacheMs
   * as the channels' rows; with a bus, a row read while this process listens to its instance's agentStatus topic
   * is kept up to `heardMs` (default 30 s) instead: the agents projection publishes every change of an agent there
   * after its commit (deletion, role), and hearing it drops the row at once in every process, so the next request
   * reads it again. A read that saw a change of that agent arrive is not kept (it may predate the change); a
   * message lost in a NATS reconnect holds at most heardMs. Each of a chat bench's 200 agents re-read its row about
   * every second: the most frequent statement per message.
   */
  private readonly agentRows: KeptUntilHeard<AgentRow | undefined>;
  private readonly readAgent: (key: string) => Promise<AgentRow | undefined>;
  private readonly readWebChannel: (key: string) => Promise<WebChannelRow | undefined>;

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
    const db = this.db;
    const now = deps.now ?? Date.now;
    this.readWebChannel = (key) => {
      const [instanceId, webChannelId] = splitKey(key);
      return db
        .selectFrom('web_channels')
        .select(['allowed_origins', 'enabled', 'deleted_at', 'identity_secret'])
        .where('instance_id', '=', instanceId)
        .where('id', '=', webChannelId)
        .executeTakeFirst();
    };
    this.readAgent = (key) => {
      const [instanceId, agentId] = splitKey(key);
      return db.selectFrom('agents').select(['role', 'deleted_at', 'updated_at']).where('instance_id', '=', instanceId).where('id', '=', agentId).executeTakeFirst();
    };
    this.webChannelRows = new KeptUntilHeard({
      bus: null,
      load: this.readWebChannel,
      subjectOf: () => null,
      changed: () => null,
      unheardMs: this.cacheMs,
      maxEntries: 50_000,
      now,
    });
    this.agentRows = new KeptUntilHeard({
      bus: deps.bus ?? null,
      load: this.readAgent,
      subjectOf: (key) => {
        const instanceId = splitKey(key)[0];
        return instanceId === '' ? null : agentStatusTopic(instanceId);
      },
      changed: (subject, message) => {
        const agentId = (message as { id?: unknown } | null)?.id;
        // A message of another shape: every kept agent of the instance is read again.
        return typeof agentId === 'string' ? [`${subject.slice('kefu.'.length, -'.agentStatus'.length)}/${agentId}`] : null;
      },
      maxAgeMs: deps.heardMs ?? 30_000,
      unheardMs: this.cacheMs,
      maxEntries: 50_000,
      now,
    });
  }

  /** Called once a change of the agent is in the read model: its tokens are checked against the new row. */
  forgetAgent(instanceId: string, agentId: string): void {
    this.agentRows.forget(`${instanceId}/${agentId}`);
  }

  /**
   * The agent's row as read just now, after a change of it reached the read model (agentAfter): kept as if a
   * token check had read it, so the agent's next request within cacheMs does not read it again (each presence
   * change used to forget it, and the next one waited for that read before its append). cacheMs only: a change
   * heard between this row's read and now would not be seen.
   */
  rememberAgent(instanceId: string, agentId: string, row: AgentRow): void {
    this.agentRows.remember(`${instanceId}/${agentId}`, row);
  }

  /** Called once a change of the web channel is in the read model: its customers' tokens are checked against the new row. */
  forgetWebChannel(instanceId: string, webChannelId: string): void {
    this.webChannelRows.forget(`${instanceId}/${webChannelId}`);
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

  /** cacheMs 0: read every time (no read shared either). */
  private webChannelRow(instanceId: string, webChannelId: string): Promise<WebChannelRow | undefined> {
    return this.cacheMs > 0 ? this.webChannelRows.get(`${instanceId}/${webChannelId}`) : this.readWebChannel(`${instanceId}/${webChannelId}`);
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
    const key = `${instanceId}/${agentId}`;
    const row = this.cacheMs > 0 ? await this.agentRows.get(key) : await this.readAgent(key);
    if (!row || row.deleted_at) throw new UnauthenticatedError('This agent no longer exists');
    return { kind: 'agent', instanceId, agentId, role: row.role as 'AGENT' | 'SUPERVISOR' | 'ADMIN' };
  }
}

type AgentRow = { role: string; deleted_at: Date | null; updated_at: Date };
type WebChannelRow = { allowed_origins: string[]; enabled: boolean; deleted_at: Date | null; identity_secret: string };

/** `<instanceId>/<rest>` (an instance id has no slash). */
function splitKey(key: string): [string, string] {
  const at = key.indexOf('/');
  return [key.slice(0, at), key.slice(at + 1)];
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
