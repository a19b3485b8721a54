// A UAC leg: our INVITE to an agent's phone (or any SIP URI), its CANCEL, ACK and BYE.
import type { ServerTransaction, SipMessage } from 'sip';
import { CallEvents } from './call-events.ts';
import { dtmfDigitOf } from './dtmf-info.ts';
import type { CallEndedBy } from './inbound-call.ts';
import { IncomingRefer } from './refer.ts';
import { SipDialog } from './sip-dialog.ts';
import { TIMER_B, type DialogRequestHandler, type SipStack } from './sip-stack.ts';
import { firstContactUri, newCallId, newTag, response, tagOf, withToTag, type SipHop } from './sip-message.ts';

export interface OutboundCall {
  readonly callId: string;
  /** 180/183, once. */
  on(event: 'ringing', listener: () => void): this;
  /** 200 OK (we send the ACK); the SDP answer. */
  on(event: 'answered', listener: (sdp: string) => void): this;
  /** Once, instead of 'answered': 3xx-6xx, 408 on timeout, 503 on transport error, 487 after cancel(). */
  on(event: 'failed', listener: (status: number, reason: string) => void): this;
  /** Once, after 'answered': BYE either way. */
  on(event: 'ended', listener: (by: CallEndedBy, reason: string) => void): this;
  /** SIP INFO DTMF from the phone. */
  on(event: 'dtmf', listener: (digit: string) => void): this;
  /** REFER from the phone (its transfer key): answer through the IncomingRefer. Without a listener, 403. */
  on(event: 'refer', listener: (refer: IncomingRefer) => void): this;
  /** CANCEL while ringing; BYE if it was answered meanwhile. */
  cancel(): void;
  /** BYE after answer, cancel() before; resolves when the far end confirmed (or timed out). */
  hangup(): Promise<void>;
}

export interface OutboundCallRequest {
  /** Request-URI, e.g. a registration's contact. */
  uri: string;
  /** The hop to send to: a registration's source (NAT) or a trunk; a promise while DNS resolves. */
  hop: SipHop | Promise<SipHop>;
  from: string;
  fromName?: string;
  sdp: string;
  headers?: Record<string, string>;
}

type State = 'calling' | 'early' | 'answered' | 'ended';

export class SipOutboundCall implements OutboundCall, DialogRequestHandler {
  readonly callId: string;
  private state: State = 'calling';
  private cancelWanted = false;
  private cancelSent = false;
  private cancelTimer: NodeJS.Timeout | null = null;
  private ringingSent = false;
  private referListened = false;
  private dialog: SipDialog | null = null;
  private lastAck: SipMessage | null = null;
  private hop: SipHop | null = null;
  private readonly invite: SipMessage;
  private readonly events: CallEvents;
  private readonly localTag = newTag();
  private readonly done: Promise<void>;
  private markDone: () => void = () => {};
  private readonly stack: SipStack;
  private readonly target: OutboundCallRequest;

  constructor(stack: SipStack, target: OutboundCallRequest) {
    this.stack = stack;
    this.target = target;
    this.callId = newCallId(stack.publicAddress);
    this.events = new CallEvents(stack.logger);
    this.done = new Promise((resolve) => (this.markDone = resolve));
    const fromUri = `sip:${encodeURIComponent(target.from)}@${stack.publicAddress}`;
    const extra = Object.fromEntries(Object.entries(target.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    this.invite = {
      method: 'INVITE',
      uri: target.uri,
      headers: {
        ...extra,
        via: [{ params: {} }],
        to: { uri: target.uri, params: {} },
        from: { name: target.fromName ? `"${target.fromName.replace(/["\\]/g, '')}"` : undefined, uri: fromUri, params: { tag: this.localTag } },
        'call-id': this.callId,
        cseq: { seq: 1, method: 'INVITE' },
        contact: undefined,
        'max-forwards': '70',
        allow: 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER',
        'content-type': 'application/sdp',
      },
      content: target.sdp,
    };
  }

  /** Sends the INVITE (on the next tick, so listeners attached after call() see every event). */
  start(): void {
    Promise.resolve(this.target.hop).then(
      (hop) => {
        if (this.state !== 'calling') return;
        this.hop = hop;
        this.invite.headers.contact = [{ uri: this.stack.contactUri(hop.transport), params: {} }];
        this.stack.sendRequest(hop, this.invite, (rs) => this.onInviteResponse(rs));
      },
      (err: unknown) => {
        this.stack.logger.warn({ err, uri: this.target.uri }, 'sip call target not resolvable');
        this.fail(503, 'Target Not Resolvable');
      },
    )
      // A throw above would be an unhandled rejection, which ends the process.
      .catch((err: unknown) => {
        this.stack.logger.error({ err, uri: this.target.uri }, 'sip INVITE not sent');
        this.fail(503, 'Service Unavailable');
      });
  }

  on(event: 'ringing', listener: () => void): this;
  on(event: 'answered', listener: (sdp: string) => void): this;
  on(event: 'failed', listener: (status: number, reason: string) => void): this;
  on(event: 'ended', listener: (by: CallEndedBy, reason: string) => void): this;
  on(event: 'dtmf', listener: (digit: string) => void): this;
  on(event: 'refer', listener: (refer: IncomingRefer) => void): this;
  on(event: string, listener: (...args: never[]) => void): this {
    if (event === 'refer') this.referListened = true;
    this.events.on(event, listener);
    return this;
  }

  cancel(): void {
    if (this.state === 'answered') {
      void this.hangup();
      return;
    }
    if (this.state === 'ended' || this.cancelWanted) return;
    this.cancelWanted = true;
    if (!this.hop) return this.fail(487, 'Request Terminated'); // nothing sent yet
    // RFC 3261 §9.1: no CANCEL before a provisional response; it goes out when one arrives.
    if (this.state === 'early') this.sendCancel();
    // Whatever the callee does (or does not), the caller hears 'failed' 487 in the end.
    this.cancelTimer = setTimeout(() => this.fail(487, 'Request Terminated'), TIMER_B);
  }

  async hangup(): Promise<void> {
    if (this.state === 'calling' || this.state === 'early') {
      this.cancel();
      return this.done;
    }
    if (this.state !== 'answered' || !this.dialog) return;
    this.state = 'ended';
    this.events.emit('ended', 'local', 'hangup');
    await this.dialog.bye();
    this.finish();
  }

  onRequest(request: SipMessage, transaction: ServerTransaction): void {
    const dialog = this.dialog;
    if (dialog && request.method === 'REFER') return this.onRefer(new IncomingRefer({ stack: this.stack, dialog, request, transaction }));
    if (!dialog || dialog.answerCommonRequest(request, transaction)) return;
    switch (request.method) {
      case 'BYE':
        transaction.send(response(request, 200, 'OK'));
        if (this.state === 'answered') {
          this.state = 'ended';
          this.events.emit('ended', 'remote', 'BYE');
          this.finish();
        }
        return;
      case 'INFO': {
        transaction.send(response(request, 200, 'OK'));
        const digit = dtmfDigitOf(request);
        if (digit && this.state === 'answered') this.events.emit('dtmf', digit);
        return;
      }
      case 'INVITE':
        // Re-INVITE (hold): answer with our offer again, so the call stays up.
        if (this.state !== 'answered') return transaction.send(response(request, 481, 'Call/Transaction Does Not Exist'));
        dialog.sendAccepted(
          transaction,
          withToTag(response(request, 200, 'OK', { contact: this.invite.headers.contact, 'content-type': 'application/sdp' }, this.target.sdp), this.localTag),
          () => {},
          () => {},
        );
        return;
    }
  }

  private onRefer(refer: IncomingRefer): void {
    if (this.state !== 'answered') return refer.reject(481, 'Call/Transaction Does Not Exist');
    if (!refer.valid) return refer.reject(400, 'Bad Refer-To');
    if (!this.referListened) return refer.reject(403, 'Transfer Not Allowed');
    this.events.emit('refer', refer);
  }

  onAck(ack: SipMessage): void {
    this.dialog?.receiveAck(ack);
  }

  onTransportClosed(): void {
    if (this.state === 'answered') {
      this.state = 'ended';
      this.events.emit('ended', 'remote', 'transport closed');
      this.finish();
    } else {
      this.fail(503, 'Transport Closed');
    }
  }

  shutdown(): void {
    if (this.state === 'answered') void this.hangup();
    else this.cancel();
  }

  private onInviteResponse(rs: SipMessage): void {
    const status = rs.status ?? 0;
    if (status < 200) return this.onProvisional(status);
    if (status < 300) return this.onSuccess(rs);
    this.fail(status, rs.reason || defaultReasons[status] || 'Failed');
  }

  private onProvisional(status: number): void {
    if (this.state !== 'calling' && this.state !== 'early') return;
    this.state = 'early';
    if (this.cancelWanted) return this.sendCancel();
    if ((status === 180 || status === 183) && !this.ringingSent) {
      this.ringingSent = true;
      this.events.emit('ringing');
    }
  }

  private onSuccess(rs: SipMessage): void {
    const hop = this.hop!;
    const existing = this.dialog;
    if (existing && tagOf(rs.headers.to) === tagOf(existing.id.remote)) {
      // A retransmitted 200: our ACK was lost.
      if (this.lastAck) this.stack.sendStateless(hop, this.lastAck);
      return;
    }
    const dialog = new SipDialog(
      this.stack,
      {
        callId: this.callId,
        local: this.invite.headers.from!,
        remote: rs.headers.to ?? { uri: this.target.uri, params: {} },
        remoteTarget: firstContactUri(rs) ?? this.target.uri,
        hop,
      },
      1,
    );
    const ack = dialog.ack(1);
    this.stack.sendStateless(hop, ack);
    if (existing) {
      // A second fork answered too: confirm it and end it at once.
      void dialog.bye();
      return;
    }
    this.dialog = dialog;
    this.lastAck = ack;
    this.stack.addDialog(this.callId, this.localTag, this, hop);
    if (this.cancelWanted || this.state === 'ended') {
      // The 200 crossed our CANCEL: confirm the dialog and end it at once.
      void dialog.bye();
      return this.fail(487, 'Request Terminated');
    }
    this.state = 'answered';
    this.events.emit('answered', rs.content ?? '');
  }

  private sendCancel(): void {
    if (this.cancelSent) return;
    this.cancelSent = true;
    const via = this.invite.headers.via?.[0];
    const cancel: SipMessage = {
      method: 'CANCEL',
      uri: this.invite.uri,
      headers: {
        // The INVITE's Via with its branch: that is how the callee finds the transaction to cancel.
        via: via ? [{ ...via, params: { ...via.params } }] : [],
        to: this.invite.headers.to,
        from: this.invite.headers.from,
        'call-id': this.callId,
        cseq: { seq: this.invite.headers.cseq!.seq, method: 'CANCEL' },
        'max-forwards': '70',
      },
    };
    if (this.hop) this.stack.sendRequest(this.hop, cancel, () => {});
  }

  private fail(status: number, reason: string): void {
    if (this.state === 'ended' || this.state === 'answered') return;
    this.state = 'ended';
    this.events.emit('failed', this.cancelWanted ? 487 : status, this.cancelWanted ? 'Request Terminated' : reason);
    this.finish();
  }

  private finish(): void {
    if (this.cancelTimer) clearTimeout(this.cancelTimer);
    this.cancelTimer = null;
    this.markDone();
    if (this.dialog) {
      const dialog = this.dialog;
      // Late retransmissions (BYE, INFO) still find the dialog for a while.
      setTimeout(() => dialog.close(), TIMER_B).unref();
    }
  }
}

const defaultReasons: Record<number, string> = { 408: 'Request Timeout', 503: 'Service Unavailable' };
