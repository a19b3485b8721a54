// Where agents' phones are: contact bindings from REGISTER, by agent. Several devices per agent.
// A binding past its expiry is never returned, even before the sweep removes it.
import { EventEmitter } from 'node:events';
import type { SipHop } from './sip-message.ts';

export interface Registration {
  agentId: string;
  instanceId: string;
  contactUri: string;
  /** Where the REGISTER came from; requests to the phone go here (NAT), not to the Contact host. */
  source: SipHop;
  /** Epoch milliseconds. */
  expiresAt: number;
  userAgent: string | null;
}

export type UnregisteredReason = 'unregistered' | 'expired' | 'connection-closed';

export interface BindingChange {
  contactUri: string;
  /** 0 removes the binding. */
  expiresSeconds: number;
}

export class Registrar {
  private readonly bindings = new Map<string, Map<string, Registration>>();
  private readonly emitter = new EventEmitter();
  private readonly now: () => number;

  constructor(now: () => number) {
    this.now = now;
  }

  on(event: 'registered', listener: (registration: Registration) => void): this;
  on(event: 'unregistered', listener: (registration: Registration, reason: UnregisteredReason) => void): this;
  on(event: 'registered' | 'unregistered', listener: (...args: never[]) => void): this {
    this.emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off(event: 'registered' | 'unregistered', listener: (...args: never[]) => void): this {
    this.emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** The agent's live bindings, newest first. */
  lookup(agentId: string): Registration[] {
    const now = this.now();
    return [...(this.bindings.get(agentId)?.values() ?? [])].filter((r) => r.expiresAt > now).sort((a, b) => b.expiresAt - a.expiresAt);
  }

  /** The live binding a request from this hop belongs to, if any. */
  findBySource(hop: SipHop): Registration | null {
    const now = this.now();
    for (const agent of this.bindings.values()) {
      for (const r of agent.values()) {
        if (r.expiresAt > now && r.source.address === hop.address && r.source.port === hop.port && r.source.transport === hop.transport) return r;
      }
    }
    return null;
  }

  apply(agent: { agentId: string; instanceId: string }, changes: BindingChange[], source: SipHop, userAgent: string | null): Registration[] {
    const now = this.now();
    let mine = this.bindings.get(agent.agentId);
    if (!mine) this.bindings.set(agent.agentId, (mine = new Map()));
    for (const change of changes) {
      const existing = mine.get(change.contactUri);
      if (change.expiresSeconds <= 0) {
        if (existing) this.remove(mine, existing, 'unregistered');
        continue;
      }
      const registration: Registration = { ...agent, contactUri: change.contactUri, source, expiresAt: now + change.expiresSeconds * 1000, userAgent };
      mine.set(change.contactUri, registration);
      this.emit('registered', registration);
    }
    if (mine.size === 0) this.bindings.delete(agent.agentId);
    return this.lookup(agent.agentId);
  }

  removeAll(agentId: string): void {
    const mine = this.bindings.get(agentId);
    for (const r of [...(mine?.values() ?? [])]) this.remove(mine!, r, 'unregistered');
    this.bindings.delete(agentId);
  }

  /** A TCP phone's connection closed: its bindings over that connection are unreachable. */
  removeBySource(hop: SipHop): void {
    for (const [agentId, mine] of this.bindings) {
      for (const r of [...mine.values()]) {
        if (r.source.address === hop.address && r.source.port === hop.port && r.source.transport === hop.transport) this.remove(mine, r, 'connection-closed');
      }
      if (mine.size === 0) this.bindings.delete(agentId);
    }
  }

  /** Drops expired bindings and reports them. */
  sweep(): void {
    const now = this.now();
    for (const [agentId, mine] of this.bindings) {
      for (const r of [...mine.values()]) if (r.expiresAt <= now) this.remove(mine, r, 'expired');
      if (mine.size === 0) this.bindings.delete(agentId);
    }
  }

  private remove(mine: Map<string, Registration>, registration: Registration, reason: UnregisteredReason): void {
    mine.delete(registration.contactUri);
    this.emit('unregistered', registration, reason);
  }

  private emit(event: string, ...args: unknown[]): void {
    // A listener's bug must not break REGISTER handling.
    try {
      this.emitter.emit(event, ...args);
    } catch {
      // ignored on purpose
    }
  }
}
