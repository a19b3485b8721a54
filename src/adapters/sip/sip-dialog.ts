// One dialog's identity (Call-ID, tags, remote target, the hop it uses) and the two things both
// call directions need: building in-dialog requests, and resending a 2xx until its ACK comes.
import type { ServerTransaction, SipAddress, SipMessage } from 'sip';
import { T1, T2, TIMER_B, type SipStack } from './sip-stack.ts';
import { allowedMethods, newBranch, response, type SipHop } from './sip-message.ts';

export interface DialogIdentity {
  callId: string;
  /** Our side, with our tag. */
  local: SipAddress;
  /** Their side, with their tag (when known). */
  remote: SipAddress;
  /** Their Contact: the Request-URI of in-dialog requests. */
  remoteTarget: string;
  /**
   * Where in-dialog requests go: the flow the dialog was set up on (the INVITE's source, or the hop
   * we sent our INVITE to), so NAT and TCP connections keep working.
   */
  hop: SipHop;
}

interface AckWait {
  retransmit: NodeJS.Timeout | null;
  giveUp: NodeJS.Timeout;
  onAck: () => void;
}

export class SipDialog {
  readonly id: DialogIdentity;
  private localCseq: number;
  private readonly stack: SipStack;
  private readonly ackWaits = new Map<number, AckWait>();

  constructor(stack: SipStack, id: DialogIdentity, firstCseq: number) {
    this.stack = stack;
    this.id = id;
    this.localCseq = firstCseq;
  }

  get localTag(): string {
    return String(this.id.local.params.tag);
  }

  /** A new in-dialog request with the next CSeq. */
  request(method: string, headers: Record<string, unknown> = {}, content?: string): SipMessage {
    this.localCseq += 1;
    return {
      method,
      uri: this.id.remoteTarget,
      headers: {
        via: [{ params: {} }],
        to: this.id.remote,
        from: this.id.local,
        'call-id': this.id.callId,
        cseq: { seq: this.localCseq, method },
        'max-forwards': '70',
        ...headers,
      },
      content,
    };
  }

  /** ACK for a 2xx to our INVITE with this CSeq: its own transaction (new branch), to the remote target. */
  ack(seq: number): SipMessage {
    return {
      method: 'ACK',
      uri: this.id.remoteTarget,
      headers: {
        via: [{ params: { branch: newBranch() } }],
        to: this.id.remote,
        from: this.id.local,
        'call-id': this.id.callId,
        cseq: { seq, method: 'ACK' },
        'max-forwards': '70',
      },
    };
  }

  /** Sends a BYE; resolves on any final response, a timeout or a transport error. */
  bye(): Promise<number> {
    return new Promise((resolve) => {
      this.stack.sendRequest(this.id.hop, this.request('BYE'), (rs) => {
        if ((rs.status ?? 0) >= 200) resolve(rs.status ?? 0);
      });
    });
  }

  /**
   * Sends a 2xx to an INVITE on its server transaction and, over UDP, resends it (T1 doubling to
   * T2) until the ACK; after 64*T1 without one, onTimeout.
   */
  sendAccepted(transaction: ServerTransaction, rs: SipMessage, onAck: () => void, onTimeout: () => void): void {
    const seq = rs.headers.cseq?.seq ?? 0;
    this.clearAckWait(seq);
    transaction.send(rs);
    const wait: AckWait = {
      retransmit: null,
      giveUp: setTimeout(() => {
        this.clearAckWait(seq);
        onTimeout();
      }, TIMER_B),
      onAck,
    };
    if (this.id.hop.transport === 'udp') {
      const resend = (interval: number) => {
        wait.retransmit = setTimeout(() => {
          transaction.send(rs);
          resend(Math.min(interval * 2, T2));
        }, interval);
      };
      resend(T1);
    }
    this.ackWaits.set(seq, wait);
  }

  /** True when the ACK matched a 2xx we were resending. */
  receiveAck(ack: SipMessage): boolean {
    const seq = ack.headers.cseq?.seq ?? -1;
    const wait = this.ackWaits.get(seq);
    if (!wait) return false;
    this.clearAckWait(seq);
    wait.onAck();
    return true;
  }

  /** The answers every dialog gives alike; true when handled. */
  answerCommonRequest(request: SipMessage, transaction: ServerTransaction): boolean {
    if (request.method === 'OPTIONS') {
      transaction.send(response(request, 200, 'OK', { allow: allowedMethods.join(', ') }));
      return true;
    }
    if (!['BYE', 'INFO', 'INVITE'].includes(request.method ?? '')) {
      transaction.send(response(request, 405, 'Method Not Allowed', { allow: allowedMethods.join(', ') }));
      return true;
    }
    return false;
  }

  stopRetransmissions(): void {
    for (const seq of [...this.ackWaits.keys()]) this.clearAckWait(seq);
  }

  /** Forgets the dialog: later requests in it get 481. */
  close(): void {
    this.stopRetransmissions();
    this.stack.removeDialog(this.id.callId, this.localTag);
  }

  private clearAckWait(seq: number): void {
    const wait = this.ackWaits.get(seq);
    if (!wait) return;
    if (wait.retransmit) clearTimeout(wait.retransmit);
    clearTimeout(wait.giveUp);
    this.ackWaits.delete(seq);
  }
}
