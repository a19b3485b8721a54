// SIP REFER inside a call leg (RFC 3515): an agent's phone asks Kefu to transfer the caller elsewhere (a
// blind transfer from the phone's transfer key). The leg surfaces the request as an IncomingRefer; the call
// process decides whether the target exists and answers through it: 202 Accepted and NOTIFYs carrying the
// transfer's progress as message/sipfrag ("SIP/2.0 100 Trying", then "SIP/2.0 200 OK"), or an error
// response (404 for an unknown target) that leaves the call as it was.
import type { ServerTransaction, SipMessage } from 'sip';
import type { SipDialog } from './sip-dialog.ts';
import { headerText, response, uriUser } from './sip-message.ts';
import type { SipStack } from './sip-stack.ts';

/** How long a NOTIFY may take to be answered before the transfer goes on without it. */
const NOTIFY_WAIT_MS = 2000;

export class IncomingRefer {
  /** The Refer-To URI as sent, e.g. `sip:bob@kefu.example.com`. */
  readonly referTo: string;
  /** Its user part (`bob`): what Kefu looks the target up by; null when there is none. */
  readonly targetUser: string | null;
  private readonly stack: SipStack;
  private readonly dialog: SipDialog;
  private readonly request: SipMessage;
  private readonly transaction: ServerTransaction;
  private answered = false;
  private terminated = false;

  constructor(o: { stack: SipStack; dialog: SipDialog; request: SipMessage; transaction: ServerTransaction }) {
    this.stack = o.stack;
    this.dialog = o.dialog;
    this.request = o.request;
    this.transaction = o.transaction;
    this.referTo = referToUri(o.request) ?? '';
    this.targetUser = uriUser(this.referTo) ?? null;
  }

  /** The REFER is well-formed: one Refer-To with a SIP URI. Otherwise answer it with badRequest(). */
  get valid(): boolean {
    return this.targetUser !== null && /^sips?:/i.test(this.referTo);
  }

  /** 202 Accepted, then the first NOTIFY: the transfer is being tried. */
  accept(): Promise<void> {
    if (this.answered) return Promise.resolve();
    this.answered = true;
    this.transaction.send(response(this.request, 202, 'Accepted', { contact: [{ uri: this.stack.contactUri(this.dialog.id.hop.transport), params: {} }] }));
    return this.notify('SIP/2.0 100 Trying', 'active;expires=60');
  }

  /** Refuses the REFER with a final error (403 not allowed now, 404 unknown target…): nothing else happens. */
  reject(status: number, reason: string): void {
    if (this.answered) return;
    this.answered = true;
    this.terminated = true;
    this.transaction.send(response(this.request, status, reason));
  }

  /** The transfer happened: the final NOTIFY, 200 OK, ends the implicit subscription. */
  succeeded(): Promise<void> {
    return this.finalNotify('SIP/2.0 200 OK');
  }

  /** The transfer failed after the 202: the final NOTIFY carries the failure. */
  failed(status: number, reason: string): Promise<void> {
    return this.finalNotify(`SIP/2.0 ${status} ${reason}`);
  }

  private finalNotify(statusLine: string): Promise<void> {
    if (!this.answered || this.terminated) return Promise.resolve();
    this.terminated = true;
    return this.notify(statusLine, 'terminated;reason=noresource');
  }

  /** Sends one NOTIFY in the dialog; resolves on its final response or after NOTIFY_WAIT_MS. */
  private notify(statusLine: string, subscriptionState: string): Promise<void> {
    const hop = this.dialog.id.hop;
    const cseq = this.request.headers.cseq?.seq;
    const notify = this.dialog.request(
      'NOTIFY',
      {
        event: cseq === undefined ? 'refer' : `refer;id=${cseq}`,
        'subscription-state': subscriptionState,
        contact: [{ uri: this.stack.contactUri(hop.transport), params: {} }],
        'content-type': 'message/sipfrag;version=2.0',
      },
      `${statusLine}\r\n`,
    );
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, NOTIFY_WAIT_MS);
      this.stack.sendRequest(hop, notify, (rs) => {
        if ((rs.status ?? 0) < 200) return;
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** The Refer-To header's URI: the `sip` package parses it as an address; a string when it could not. */
function referToUri(request: SipMessage): string | null {
  const value: unknown = request.headers['refer-to'];
  if (value && typeof value === 'object' && 'uri' in value && typeof value.uri === 'string') return value.uri;
  const text = headerText(request, 'refer-to');
  if (!text) return null;
  const m = /<([^>]+)>/.exec(text);
  return (m ? m[1]! : text.split(';')[0]!).trim();
}
