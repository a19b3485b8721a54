// The browser softphones connected to this Kefu process, one per agent: their peer connections, the calls
// ringing or connected on them, and the live feed of call events their browsers subscribe to. The hub holds
// transport state only; the softphone device (src/processes/calls/devices/softphone-device.ts) turns it
// into answers, failures and hang-ups of an agent's ring.
//
// A softphone is lost (its calls end, the customer is not left in silence) when its connection fails or
// closes, when its agent's last softphoneCalls subscription closes and none reopens within a grace
// period (the browser tab closed or crashed), or when no RTP came from it for a while during a call.
import { randomUUID } from 'node:crypto';
import { G711_SILENCE } from '../media/g711.ts';
import { rtpPayloadEnd, rtpPayloadOffset } from '../media/rtp-packet.ts';
import { SoftphonePeer, type SoftphonePeerOptions } from './softphone-peer.ts';

export type SoftphoneCallState = 'RINGING' | 'CONNECTED' | 'HELD' | 'RESUMED' | 'ENDED';

export interface SoftphoneCallEvent {
  callId: string;
  state: SoftphoneCallState;
  contactId: string;
  callerId: string;
  callerName: string | null;
  /** Why it ended: rejected, agentHungUp, cancelled, callEnded, softphoneLost. */
  reason: string | null;
  at: string;
}

/** A call on a softphone, as the device runs it; the hub only checks the state and passes the agent's action on. */
export interface SoftphoneCallControl {
  readonly callId: string;
  readonly contactId: string;
  readonly callerId: string;
  readonly callerName: string | null;
  readonly state: SoftphoneCallState;
  answer(): void;
  reject(): void;
  hangUp(): void;
  /** The softphone is gone: a ringing call fails, a connected one ends. */
  lost(why: string): void;
}

export class SoftphoneConflictError extends Error {}

export interface AgentKey {
  instanceId: string;
  agentId: string;
}

export class Softphone {
  readonly id = randomUUID();
  readonly instanceId: string;
  readonly agentId: string;
  readonly peer: SoftphonePeer;
  muted = false;
  readonly calls = new Map<string, SoftphoneCallControl>();
  private route: ((packet: Buffer) => void) | null = null;

  constructor(agent: AgentKey, peer: SoftphonePeer) {
    this.instanceId = agent.instanceId;
    this.agentId = agent.agentId;
    this.peer = peer;
    peer.onRtp((packet) => this.fromBrowser(packet));
  }

  /** The browser's audio goes to `deliver` (the connected call's leg), or nowhere. */
  routeTo(deliver: ((packet: Buffer) => void) | null): void {
    this.route = deliver;
  }

  private fromBrowser(packet: Buffer): void {
    const route = this.route;
    if (!route) return;
    if (this.muted) {
      // Muted: the customer hears silence, but RTP keeps flowing (some carriers hang up on RTP timeouts).
      const start = rtpPayloadOffset(packet);
      const pt = packet[1]! & 0x7f;
      if (start >= 0 && pt === this.peer.payloadType) packet.fill(G711_SILENCE[this.peer.codec], start, rtpPayloadEnd(packet));
    }
    route(packet);
  }

  get connectedCall(): SoftphoneCallControl | null {
    for (const call of this.calls.values()) if (call.state === 'CONNECTED' || call.state === 'HELD' || call.state === 'RESUMED') return call;
    return null;
  }
}

interface Feed {
  push(event: SoftphoneCallEvent): void;
}

export interface SoftphoneHubOptions extends SoftphonePeerOptions {
  /** How long a softphone stays after its agent's last subscription closed (a reload reconnects within it). */
  subscriptionGraceMs?: number;
  /** A connected call whose browser sent no RTP for this long has lost its softphone. */
  mediaTimeoutMs?: number;
  logger: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
  clock?: () => Date;
}

const key = (a: AgentKey) => `${a.instanceId}/${a.agentId}`;

export class SoftphoneHub {
  private readonly o: SoftphoneHubOptions;
  private readonly softphones = new Map<string, Softphone>();
  private readonly feeds = new Map<string, Set<Feed>>();
  private readonly graceTimers = new Map<string, NodeJS.Timeout>();
  private readonly watchdog: NodeJS.Timeout;
  private closed = false;

  constructor(o: SoftphoneHubOptions) {
    this.o = o;
    this.watchdog = setInterval(() => this.checkMedia(), 1000);
    this.watchdog.unref();
  }

  private now(): string {
    return (this.o.clock?.() ?? new Date()).toISOString();
  }

  /** Answers the browser's offer; a softphone the agent had before is lost (its calls end). */
  async connect(agent: AgentKey, offerSdp: string): Promise<Softphone> {
    if (this.closed) throw new Error('the softphone hub is closed');
    const peer = await SoftphonePeer.answer(offerSdp, this.o);
    const softphone = new Softphone(agent, peer);
    const old = this.softphones.get(key(agent));
    if (old) this.lose(old, 'replaced by a new softphone');
    this.softphones.set(key(agent), softphone);
    peer.onGone((why) => this.lose(softphone, why));
    this.o.logger.info({ agentId: agent.agentId, softphoneId: softphone.id, codec: peer.codec }, 'softphone connected');
    return softphone;
  }

  softphoneOf(agent: AgentKey): Softphone | null {
    return this.softphones.get(key(agent)) ?? null;
  }

  /** The agent closes the softphone: its calls end as if it vanished. */
  disconnect(agent: AgentKey): boolean {
    const softphone = this.softphones.get(key(agent));
    if (!softphone) return false;
    this.lose(softphone, 'disconnected');
    return true;
  }

  /** Runs an agent's action on a call ringing or connected on their own softphone. */
  act(agent: AgentKey, callId: string, action: 'answer' | 'reject' | 'hangUp'): SoftphoneCallControl {
    const softphone = this.softphones.get(key(agent));
    const call = softphone?.calls.get(callId);
    if (!softphone || !call) throw new SoftphoneConflictError(`call ${callId} is not on your softphone`);
    const talking = call.state === 'CONNECTED' || call.state === 'HELD' || call.state === 'RESUMED';
    if (action === 'answer') {
      if (call.state !== 'RINGING') throw new SoftphoneConflictError(`call ${callId} is not ringing (it is ${call.state})`);
      if (softphone.connectedCall) throw new SoftphoneConflictError('another call is connected on your softphone');
      call.answer();
    } else if (action === 'reject') {
      if (call.state !== 'RINGING') throw new SoftphoneConflictError(`call ${callId} is not ringing (it is ${call.state})`);
      call.reject();
    } else {
      if (!talking && call.state !== 'RINGING') throw new SoftphoneConflictError(`call ${callId} has ended`);
      if (call.state === 'RINGING') call.reject();
      else call.hangUp();
    }
    return call;
  }

  setMuted(agent: AgentKey, muted: boolean): Softphone {
    const softphone = this.softphones.get(key(agent));
    if (!softphone) throw new SoftphoneConflictError('you have no softphone connected');
    softphone.muted = muted;
    return softphone;
  }

  /** A call's news for its agent's browser. */
  publish(softphone: Softphone, call: SoftphoneCallControl, state: SoftphoneCallState, reason: string | null = null): void {
    const event: SoftphoneCallEvent = { callId: call.callId, state, contactId: call.contactId, callerId: call.callerId, callerName: call.callerName, reason, at: this.now() };
    for (const feed of this.feeds.get(key(softphone)) ?? []) feed.push(event);
  }

  /**
   * The agent's call events, as a subscription reads them: first each call on their softphone as it is now
   * (a browser that reloads while a call rings still sees it ring), then what happens. Both come from this
   * process and this tick, so nothing falls between them. Returning the iterator (the subscription closed)
   * starts the grace period when it was the agent's last one.
   */
  subscribe(agent: AgentKey): AsyncIterableIterator<SoftphoneCallEvent> {
    const k = key(agent);
    const at = this.now();
    const queue: SoftphoneCallEvent[] = [...(this.softphones.get(k)?.calls.values() ?? [])]
      .filter((call) => call.state !== 'ENDED')
      .map((call) => ({ callId: call.callId, state: call.state, contactId: call.contactId, callerId: call.callerId, callerName: call.callerName, reason: null, at }));
    let wake: ((r: IteratorResult<SoftphoneCallEvent>) => void) | null = null;
    let open = true;
    const feed: Feed = {
      push: (event) => {
        if (!open) return;
        if (wake) {
          const w = wake;
          wake = null;
          w({ value: event, done: false });
        } else queue.push(event);
      },
    };
    const feeds = this.feeds.get(k) ?? new Set<Feed>();
    feeds.add(feed);
    this.feeds.set(k, feeds);
    clearTimeout(this.graceTimers.get(k));
    this.graceTimers.delete(k);
    const close = () => {
      if (!open) return;
      open = false;
      feeds.delete(feed);
      if (feeds.size === 0) {
        this.feeds.delete(k);
        this.startGrace(agent);
      }
      wake?.({ value: undefined, done: true });
      wake = null;
    };
    const iterator: AsyncIterableIterator<SoftphoneCallEvent> = {
      next: () => {
        const event = queue.shift();
        if (event) return Promise.resolve({ value: event, done: false });
        if (!open) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (wake = resolve));
      },
      return: () => {
        close();
        return Promise.resolve({ value: undefined, done: true });
      },
      throw: (err: unknown) => {
        close();
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  private startGrace(agent: AgentKey): void {
    const k = key(agent);
    if (!this.softphones.has(k) || this.closed) return;
    const timer = setTimeout(() => {
      this.graceTimers.delete(k);
      const softphone = this.softphones.get(k);
      if (softphone && !this.feeds.has(k)) this.lose(softphone, 'its subscription closed');
    }, this.o.subscriptionGraceMs ?? 3000);
    timer.unref();
    this.graceTimers.set(k, timer);
  }

  private checkMedia(): void {
    const limit = this.o.mediaTimeoutMs ?? 15_000;
    const now = Date.now();
    for (const softphone of this.softphones.values()) {
      if (softphone.connectedCall && now - softphone.peer.lastRtpAt > limit) this.lose(softphone, `no RTP for ${limit} ms`);
    }
  }

  /** The softphone is gone: its calls fail or end, and its peer connection closes. */
  private lose(softphone: Softphone, why: string): void {
    const k = key(softphone);
    if (this.softphones.get(k) !== softphone) return;
    this.softphones.delete(k);
    this.o.logger.info({ agentId: softphone.agentId, softphoneId: softphone.id, why }, 'softphone lost');
    for (const call of [...softphone.calls.values()]) call.lost(why);
    softphone.routeTo(null);
    void softphone.peer.close();
  }

  get size(): number {
    return this.softphones.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.watchdog);
    for (const t of this.graceTimers.values()) clearTimeout(t);
    this.graceTimers.clear();
    for (const softphone of [...this.softphones.values()]) this.lose(softphone, 'Kefu is stopping');
  }
}
