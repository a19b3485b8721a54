// REGISTER from agent phones: digest against the extension's HA1, slowed down on failures, then
// bindings in the Registrar. Unknown user and wrong password get the same answer (401 with a fresh
// challenge) so the port does not reveal which usernames exist; 403 only after a lockout.
import type { SipMessage } from 'sip';
import type { AuthFailureThrottle } from './auth-failure-throttle.ts';
import type { DigestAuth } from './digest-auth.ts';
import type { BindingChange, Registrar } from './registrar.ts';
import type { SipDirectory } from './sip-directory.ts';
import { headerText, response, uriUser, type SipHop } from './sip-message.ts';

export interface AgentRegistrationContext {
  directory: SipDirectory;
  digest: DigestAuth;
  throttle: AuthFailureThrottle;
  registrar: Registrar;
  minExpires: number;
  maxExpires: number;
  now: () => number;
  /** Sends the final response, after delayMs when given. */
  respond(rs: SipMessage, delayMs?: number): void;
}

export async function registerAgentPhone(request: SipMessage, source: SipHop, ctx: AgentRegistrationContext): Promise<void> {
  const credentials = ctx.digest.credentials(request.headers.authorization);
  if (!credentials) return ctx.respond(challenge(request, ctx));
  if (ctx.throttle.isLockedOut(source.address, credentials.username)) {
    return ctx.respond(response(request, 403, 'Too Many Failed Attempts'));
  }
  const extension = await ctx.directory.findExtension(credentials.username);
  const verdict = extension ? ctx.digest.verify(credentials, 'REGISTER', extension.ha1) : 'bad';
  if (verdict === 'stale') return ctx.respond(challenge(request, ctx, true));
  if (verdict === 'bad' || !extension) {
    const delayMs = ctx.throttle.recordFailure(source.address, credentials.username);
    return ctx.respond(challenge(request, ctx), delayMs);
  }
  ctx.throttle.recordSuccess(source.address, credentials.username);
  if (uriUser(request.headers.to?.uri) !== credentials.username) {
    return ctx.respond(response(request, 403, 'Authenticated User Does Not Match To'));
  }

  const contact = request.headers.contact;
  const expiresHeader = parseSeconds(headerText(request, 'expires'));
  if (contact === '*') {
    if (expiresHeader !== 0) return ctx.respond(response(request, 400, 'Contact * Requires Expires 0'));
    ctx.registrar.removeAll(extension.agentId);
  } else {
    const changes: BindingChange[] = (contact ?? []).map((c) => ({
      contactUri: c.uri,
      expiresSeconds: clampExpires(parseSeconds(c.params.expires ?? null) ?? expiresHeader ?? ctx.maxExpires, ctx),
    }));
    ctx.registrar.apply(extension, changes, source, headerText(request, 'user-agent'));
  }
  const now = ctx.now();
  const current = ctx.registrar.lookup(extension.agentId);
  ctx.respond(
    response(request, 200, 'OK', {
      contact: current.length ? current.map((r) => ({ uri: r.contactUri, params: { expires: String(Math.max(0, Math.round((r.expiresAt - now) / 1000))) } })) : undefined,
      date: new Date(now).toUTCString(),
    }),
  );
}

function challenge(request: SipMessage, ctx: AgentRegistrationContext, stale = false): SipMessage {
  return response(request, 401, 'Unauthorized', { 'www-authenticate': [ctx.digest.challenge(stale)] });
}

function clampExpires(seconds: number, ctx: AgentRegistrationContext): number {
  return seconds <= 0 ? 0 : Math.min(ctx.maxExpires, Math.max(ctx.minExpires, seconds));
}

function parseSeconds(value: string | null): number | null {
  if (value === null || !/^\s*\d+\s*$/.test(value)) return null;
  return Number.parseInt(value, 10);
}
