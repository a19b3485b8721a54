// Small, typed access to the `sip` package's message objects, and the identifiers SIP needs.
import { randomBytes } from 'node:crypto';
import sip, { type SipAddress, type SipMessage } from 'sip';
import { displayNameText, sipUriUser } from './sip-input.ts';

export type { SipMessage, SipAddress } from 'sip';

export type SipTransportName = 'udp' | 'tcp';

/** Where a message came from or goes to: one hop, one transport. */
export interface SipHop {
  address: string;
  port: number;
  transport: SipTransportName;
}

export const allowedMethods = ['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS', 'INFO', 'REGISTER'];

export function newTag(): string {
  return randomBytes(8).toString('hex');
}

export function newCallId(host: string): string {
  return `${randomBytes(12).toString('hex')}@${host}`;
}

export function newBranch(): string {
  return `z9hG4bK${randomBytes(10).toString('hex')}`;
}

export function headerText(message: SipMessage, name: string): string | null {
  const value = message.headers[name];
  return typeof value === 'string' ? value : null;
}

export function tagOf(address: SipAddress | undefined): string | null {
  const tag = address?.params.tag;
  return typeof tag === 'string' && tag !== '' ? tag : null;
}

/** The user part of a SIP URI as text, e.g. "+4930123" from "sip:+4930123@pbx;user=phone"; null when it has none or is unreadable. */
export function uriUser(uri: string | undefined): string | null {
  return uri ? (sipUriUser(uri) ?? null) : null;
}

/** A From or To display name as UTF-8 text (the wire layer has checked that it is storable). */
export function displayName(address: SipAddress | undefined): string | null {
  return displayNameText(address);
}

export function firstContactUri(message: SipMessage): string | null {
  const contact = message.headers.contact;
  return Array.isArray(contact) && contact[0] ? contact[0].uri : null;
}

export function isSdp(message: SipMessage): boolean {
  const type = headerText(message, 'content-type')?.split(';')[0]?.trim().toLowerCase();
  return type === 'application/sdp' && (message.content ?? '').trim() !== '';
}

/** A response with extra headers; the `sip` package copies Via, From, To, Call-ID and CSeq. */
export function response(request: SipMessage, status: number, reason: string, headers: Record<string, unknown> = {}, content?: string): SipMessage {
  const rs = sip.makeResponse(request, status, reason, { headers, content });
  // Copy To, so that adding our tag never edits the request.
  if (request.headers.to) rs.headers.to = { ...request.headers.to, params: { ...request.headers.to.params } };
  return rs;
}

export function withToTag(rs: SipMessage, tag: string): SipMessage {
  if (rs.headers.to && !rs.headers.to.params.tag) rs.headers.to.params.tag = tag;
  return rs;
}
