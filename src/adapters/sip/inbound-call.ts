// One INVITE from a trunk, already authenticated and matched to a number: the UAS side of a dialog.
import type { ServerTransaction, SipMessage } from 'sip';
import { CallEvents } from './call-events.ts';
import { dtmfDigitOf } from './dtmf-info.ts';
import { SipDialog } from './sip-dialog.ts';
import type { DialogRequestHandler, SipStack } from './sip-stack.ts';
import { displayName, firstContactUri, isSdp, newTag, response, uriUser, withToTag, type SipHop } from './sip-message.ts';

export type CallEndedBy = 'remote' | 'local';

/**
 * The call ended while something waited on it (the caller hung up first, its TCP connection closed):
 * an ordinary race, logged at info, not a failure.
 */
export class CallGoneError extends Error {
  override readonly name = 'CallGoneError';
}

export interface InboundCall {
  readonly callId: string;
  readonly instanceId: string;
  readonly trunkId: string;
  /** Caller number/user (From user part). */
  readonly from: string;
  readonly fromDisplayName: string | null;
  /** The DID. */
  readonly to: string;
  readonly flowId: string | null;
  /** The last SDP the caller sent (a re-INVITE with SDP updates it). */
  readonly remoteSdp: string;
  readonly source: SipHop;
  /** Who ended the call, once it has ended. */
  readonly endedBy: CallEndedBy | null;
  /** 180 Ringing. */
  ringing(): void;
  /** 200 OK with our SDP; resolves on the ACK, rejects after 32 s without one (then 'ended' fires too). */
  answer(sdp: string): Promise<void>;
  /** A final 3xx-6xx before answer. Fires 'ended' ('local'). */
  reject(status: number, reason?: string): void;
  /** BYE after answer; 480 before. Fires 'ended' ('local') at once; resolves when the far end confirmed or timed out. */
  hangup(): Promise<void>;
  /** Exactly once per call: remote BYE, CANCEL, ACK timeout, transport gone, or our own reject/hangup. */
  on(event: 'ended', listener: (by: CallEndedBy, reason: string) => void): this;
  /** SIP INFO application/dtmf-relay or application/dtmf. */
  on(event: 'dtmf', listener: (digit: string) => void): this;
}

type State = 'early' | 'answering' | 'confirmed' | 'ended';

export interface InboundCallSetup {
  invite: SipMessage;
  transaction: ServerTransaction;
  source: SipHop;
  instanceId: string;
  trunkId: string;
  number: string;
  flowId: string | null;
}

export class SipInboundCall implements InboundCall, DialogRequestHandler {
  readonly callId: string;
  readonly instanceId: string;
  readonly trunkId: string;
  readonly from: string;
  readonly fromDisplayName: string | null;
  readonly to: string;
  readonly flowId: string | null;
  readonly source: SipHop;
  remoteSdp: string;

  private state: State = 'early';
  private ender: CallEndedBy | null = null;
  private localSdp: string | null = null;
  private byeAfterAck = false;
  private answered: { resolve: () => void; reject: (err: Error) => void } | null = null;
  private readonly events: CallEvents;
  private readonly dialog: SipDialog;
  private readonly invite: SipMessage;
  private readonly transaction: ServerTransaction;
  private readonly stack: SipStack;

  constructor(stack: SipStack, setup: InboundCallSetup) {
    const { invite } = setup;
    this.stack = stack;
    this.invite = invite;
    this.transaction = setup.transaction;
    this.callId = String(invite.headers['call-id']);
    this.instanceId = setup.instanceId;
    this.trunkId = setup.trunkId;
    this.from = uriUser(invite.headers.from?.uri) ?? 'anonymous';
    this.fromDisplayName = displayName(invite.headers.from);
    this.to = setup.number;
    this.flowId = setup.flowId;
    this.source = setup.source;
    this.remoteSdp = invite.content ?? '';
    this.events = new CallEvents(stack.logger);
    const to = invite.headers.to!;
    this.dialog = new SipDialog(
      stack,
      {
        callId: this.callId,
        local: { ...to, params: { ...to.params, tag: newTag() } },
        remote: invite.headers.from!,
        remoteTarget: firstContactUri(invite) ?? invite.headers.from!.uri,
        hop: setup.source,
      },
      Math.floor(Math.random() * 10_000),
    );
    stack.addDialog(this.callId, this.dialog.localTag, this, setup.source);
  }

  get endedBy(): CallEndedBy | null {
    return this.ender;
  }

  on(event: 'ended', listener: (by: CallEndedBy, reason: string) => void): this;
  on(event: 'dtmf', listener: (digit: string) => void): this;
  on(event: string, listener: (...args: never[]) => void): this {
    this.events.on(event, listener);
    return this;
  }

  ringing(): void {
    if (this.state !== 'early') return;
    this.transaction.send(this.withTag(response(this.invite, 180, 'Ringing', { contact: this.contact() })));
  }

  answer(sdp: string): Promise<void> {
    if (this.state === 'ended') return Promise.reject(new CallGoneError('the call ended before it was answered'));
    if (this.state !== 'early') return Promise.reject(new Error(`cannot answer a call that is ${this.state}`));
    this.state = 'answering';
    this.localSdp = sdp;
    return new Promise<void>((resolve, reject) => {
      this.answered = { resolve, reject };
      this.dialog.sendAccepted(
        this.transaction,
        this.ok(this.invite),
        () => this.confirm(),
        () => {
          this.finishAnswer(new CallGoneError('no ACK for 200 OK'));
          // RFC 3261 §13.3.1.4: no ACK means the caller is gone; end the dialog with a BYE.
          void this.dialog.bye();
          this.end('remote', 'no ACK');
        },
      );
    });
  }

  reject(status: number, reason = 'Rejected'): void {
    if (this.state !== 'early') return;
    this.transaction.send(this.withTag(response(this.invite, status, reason)));
    this.end('local', `rejected ${status}`);
  }

  async hangup(): Promise<void> {
    if (this.state === 'early') return this.reject(480, 'Temporarily Unavailable');
    if (this.state === 'ended') return;
    this.finishAnswer(new CallGoneError('hung up before ACK'));
    // A BYE may only follow the ACK (RFC 3261 §15); it goes out when the ACK or its timeout comes.
    this.byeAfterAck = this.state === 'answering';
    this.end('local', 'hangup');
    if (!this.byeAfterAck) await this.dialog.bye();
  }

  /** CANCEL for our INVITE (the server answers the CANCEL itself). */
  cancelled(): void {
    if (this.state !== 'early') return;
    this.transaction.send(this.withTag(response(this.invite, 487, 'Request Terminated')));
    this.end('remote', 'CANCEL');
  }

  onRequest(request: SipMessage, transaction: ServerTransaction): void {
    if (this.dialog.answerCommonRequest(request, transaction)) return;
    switch (request.method) {
      case 'BYE':
        transaction.send(response(request, 200, 'OK'));
        if (this.state === 'early') this.transaction.send(this.withTag(response(this.invite, 487, 'Request Terminated')));
        this.finishAnswer(new CallGoneError('caller hung up before ACK'));
        this.end('remote', 'BYE');
        return;
      case 'INFO': {
        transaction.send(response(request, 200, 'OK'));
        const digit = dtmfDigitOf(request);
        if (digit && this.state !== 'ended') this.events.emit('dtmf', digit);
        return;
      }
      case 'INVITE':
        return this.reinvite(request, transaction);
    }
  }

  onAck(ack: SipMessage): void {
    this.dialog.receiveAck(ack);
  }

  onTransportClosed(): void {
    this.finishAnswer(new CallGoneError('transport closed'));
    this.end('remote', 'transport closed');
  }

  shutdown(): void {
    if (this.state === 'early') this.reject(503, 'Service Unavailable');
    else void this.hangup();
  }

  /** Re-INVITE (hold, codec change): answer with the SDP we answered with, so the call stays up. */
  private reinvite(request: SipMessage, transaction: ServerTransaction): void {
    if (this.state === 'ended') return transaction.send(response(request, 481, 'Call/Transaction Does Not Exist'));
    if (this.state !== 'confirmed' || !this.localSdp) return transaction.send(response(request, 491, 'Request Pending'));
    if (isSdp(request)) this.remoteSdp = request.content ?? this.remoteSdp;
    this.dialog.sendAccepted(transaction, this.ok(request), () => {}, () => {});
  }

  private confirm(): void {
    if (this.state === 'answering') this.state = 'confirmed';
    this.finishAnswer(null);
    if (this.byeAfterAck) {
      this.byeAfterAck = false;
      void this.dialog.bye();
    }
  }

  private ok(request: SipMessage): SipMessage {
    return this.withTag(response(request, 200, 'OK', { contact: this.contact(), 'content-type': 'application/sdp' }, this.localSdp ?? ''));
  }

  private withTag(rs: SipMessage): SipMessage {
    return withToTag(rs, this.dialog.localTag);
  }

  private contact() {
    return [{ uri: this.stack.contactUri(this.source.transport), params: {} }];
  }

  private finishAnswer(error: Error | null): void {
    const pending = this.answered;
    this.answered = null;
    if (!pending) return;
    if (error) pending.reject(error);
    else pending.resolve();
  }

  private end(by: 'remote' | 'local', reason: string): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.ender = by;
    // A BYE waiting for the ACK keeps the 200 going until then.
    if (!this.byeAfterAck) this.dialog.stopRetransmissions();
    setTimeout(() => this.dialog.close(), TIME_WAIT_MS).unref();
    this.events.emit('ended', by, reason);
  }
}

/** Late retransmissions (BYE, INFO) still find the dialog for this long after it ended. */
const TIME_WAIT_MS = 32_000;
