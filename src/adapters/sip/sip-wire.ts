// Bytes to SIP messages, with the limits a public port needs. Everything malformed becomes an
// `invalid` frame (answered 400 when it can be addressed), never an exception.
import sip, { type SipMessage } from 'sip';
import { messageProblem } from './sip-input.ts';

export interface WireLimits {
  /** One header line (folded continuations included). */
  maxLineBytes: number;
  maxHeaders: number;
  /** The whole head; on TCP a stream without a blank line by then is closed. */
  maxHeadBytes: number;
  maxBodyBytes: number;
}

export const defaultWireLimits: WireLimits = { maxLineBytes: 8192, maxHeaders: 100, maxHeadBytes: 65536, maxBodyBytes: 65536 };

export type Frame =
  | { kind: 'message'; message: SipMessage }
  /** `partial` is what could be read, to address a 400; null when nothing could. */
  | { kind: 'invalid'; reason: string; partial: SipMessage | null }
  | { kind: 'keepalive' };

const headerLine = /^[^\s:]+\s*:/;

interface Head {
  message: SipMessage | null;
  problem: string | null;
}

/** Reads a head (start line + header lines, latin1). */
function readHead(text: string, limits: WireLimits): Head {
  const lines = text.split('\r\n');
  let problem: string | null = null;
  if (lines.length - 1 > limits.maxHeaders) problem = 'Too Many Headers';
  if (lines.some((line) => line.length > limits.maxLineBytes)) problem = 'Header Line Too Long';
  if (problem === null) {
    const message = sip.parse(`${text}\r\n\r\n`);
    if (message) return { message, problem: messageProblem(message, text) };
  }
  // Read what is readable, to address the 400.
  const [start = '', ...rest] = lines;
  const readable = rest
    .slice(0, limits.maxHeaders)
    .filter((line) => line.length <= limits.maxLineBytes && headerLine.test(line));
  const partial = start.length <= limits.maxLineBytes ? sip.parse(`${[start, ...readable].join('\r\n')}\r\n\r\n`) : undefined;
  return { message: partial ?? null, problem: problem ?? 'Malformed Header' };
}

function contentLengthOf(message: SipMessage | null): number | null | 'bad' {
  const value = message?.headers['content-length'];
  if (value === undefined) return null;
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : 'bad';
}

function finish(head: Head, body: string): Frame {
  if (head.problem !== null || !head.message) return { kind: 'invalid', reason: head.problem ?? 'Malformed Message', partial: head.message };
  // Bodies travel as bytes; SDP is text, so decode as UTF-8.
  head.message.content = Buffer.from(body, 'latin1').toString('utf8');
  return { kind: 'message', message: head.message };
}

/** One UDP datagram is one message. */
export function decodeDatagram(data: Buffer, limits: WireLimits = defaultWireLimits): Frame | null {
  const text = data.toString('latin1');
  if (text.trim() === '') return { kind: 'keepalive' };
  const start = text.replace(/^(\r\n)+/, '');
  const end = start.indexOf('\r\n\r\n');
  const headText = end < 0 ? start.replace(/(\r\n)+$/, '') : start.slice(0, end);
  const rest = end < 0 ? '' : start.slice(end + 4);
  if (headText.length > limits.maxHeadBytes + limits.maxLineBytes * 2) return null;
  const head = readHead(headText, limits);
  if (end < 0 && head.problem === null) head.problem = 'Missing Blank Line';
  const length = contentLengthOf(head.message);
  if (length === 'bad') return { kind: 'invalid', reason: 'Bad Content-Length', partial: head.message };
  if (length !== null && length > rest.length) return { kind: 'invalid', reason: 'Content-Length Larger Than Body', partial: head.message };
  if (rest.length > limits.maxBodyBytes) return { kind: 'invalid', reason: 'Body Too Large', partial: head.message };
  return finish(head, length === null ? rest : rest.slice(0, length));
}

/**
 * Splits a TCP byte stream into messages by Content-Length (absent = 0, as RFC 3261 requires it on
 * streams). After `broken` turns true the framing is lost and the connection must be closed.
 */
export class StreamFramer {
  broken = false;
  private buffer = '';
  private readonly limits: WireLimits;

  constructor(limits: WireLimits = defaultWireLimits) {
    this.limits = limits;
  }

  push(chunk: Buffer): Frame[] {
    if (this.broken) return [];
    this.buffer += chunk.toString('latin1');
    const frames: Frame[] = [];
    for (;;) {
      const pings = /^(\r\n)+/.exec(this.buffer);
      if (pings) {
        this.buffer = this.buffer.slice(pings[0].length);
        // RFC 5626: a double CRLF ping is answered with a single CRLF pong.
        if (pings[0].length >= 4) frames.push({ kind: 'keepalive' });
      }
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.buffer.length > this.limits.maxHeadBytes) {
          frames.push({ kind: 'invalid', reason: 'Message Head Too Large', partial: null });
          this.breakStream();
        }
        return frames;
      }
      if (end > this.limits.maxHeadBytes) {
        frames.push({ kind: 'invalid', reason: 'Message Head Too Large', partial: null });
        this.breakStream();
        return frames;
      }
      const head = readHead(this.buffer.slice(0, end), this.limits);
      const length = contentLengthOf(head.message) ?? 0;
      if (length === 'bad' || length > this.limits.maxBodyBytes) {
        frames.push({ kind: 'invalid', reason: length === 'bad' ? 'Bad Content-Length' : 'Body Too Large', partial: head.message });
        this.breakStream();
        return frames;
      }
      if (this.buffer.length < end + 4 + length) return frames;
      const body = this.buffer.slice(end + 4, end + 4 + length);
      this.buffer = this.buffer.slice(end + 4 + length);
      frames.push(finish(head, body));
    }
  }

  private breakStream(): void {
    this.broken = true;
    this.buffer = '';
  }
}

/** Message to bytes: the body is UTF-8 and Content-Length counts its bytes. */
export function encodeMessage(message: SipMessage): Buffer {
  const body = message.content ? Buffer.from(message.content, 'utf8').toString('latin1') : undefined;
  return Buffer.from(sip.stringify({ ...message, content: body }), 'latin1');
}
