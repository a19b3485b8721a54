// A chat flow's image for WeChat (issue 13 with issue 12): the widget shows a flow's https image from the
// customer's browser, but WeChat takes images only as uploaded media, so Kefu fetches it. The URL is an
// instance admin's, so no server-side request forgery: every address connected to (redirects too, checked
// again at connect time against DNS rebinding) must be public unless KEFU_WECHAT_FLOW_IMAGE_ALLOW_PRIVATE is on,
// https only, at most the chat upload size, and only a JPEG, PNG or GIF (what WeChat's image messages take).
import https from 'node:https';
import { isIP } from 'node:net';
import { detectFileType } from '../chat-files/detect.ts';
import { isPrivateAddress, PrivateAddressError, safeLookup } from '../webhooks/webhook-address.ts';

export interface FlowImagePolicy {
  /** Loopback and private addresses (default: refused). */
  allowPrivate: boolean;
  maxBytes: number;
  timeoutMs?: number;
}

export interface FlowImage {
  bytes: Buffer;
  contentType: string;
  name: string;
}

/** Thrown with why the image could not be had; `transient` when trying again later may help (a network failure). */
export class FlowImageError extends Error {
  override readonly name = 'FlowImageError';
  readonly transient: boolean;
  constructor(message: string, transient: boolean) {
    super(message);
    this.transient = transient;
  }
}

const maxRedirects = 3;
const agents = new Map<boolean, https.Agent>();

function agentFor(allowPrivate: boolean): https.Agent {
  let agent = agents.get(allowPrivate);
  if (!agent) {
    agent = new https.Agent({ keepAlive: false, lookup: safeLookup(allowPrivate) });
    agents.set(allowPrivate, agent);
  }
  return agent;
}

/** Fetches a flow's image under the policy, following at most three redirects (each checked). */
export async function fetchFlowImage(url: string, policy: FlowImagePolicy): Promise<FlowImage> {
  let at = url;
  for (let hops = 0; ; hops++) {
    const answer = await get(at, policy);
    if ('location' in answer) {
      if (hops >= maxRedirects) throw new FlowImageError(`the flow's image ${url} redirects more than ${maxRedirects} times`, false);
      at = answer.location;
      continue;
    }
    const detected = detectFileType(answer.bytes);
    if (!detected.image || !/^image\/(jpeg|png|gif)$/.test(detected.contentType)) throw new FlowImageError(`the flow's image ${url} is not a JPEG, PNG or GIF (${detected.contentType})`, false);
    return { bytes: answer.bytes, contentType: detected.contentType, name: `flow-image.${detected.contentType.split('/')[1]}` };
  }
}

function get(url: string, policy: FlowImagePolicy): Promise<{ bytes: Buffer } | { location: string }> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.reject(new FlowImageError(`the flow's image URL ${url} is not a URL`, false));
  }
  if (target.protocol !== 'https:') return Promise.reject(new FlowImageError(`the flow's image ${url} is not an https URL`, false));
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
  // A literal address is not looked up (safeLookup never sees it): checked here.
  if (!policy.allowPrivate && isIP(host) !== 0 && isPrivateAddress(host)) return Promise.reject(new FlowImageError(`the flow's image ${url} is at ${host}, a private or reserved address`, false));
  return new Promise((resolve, reject) => {
    const req = https.get(target, { agent: agentFor(policy.allowPrivate), timeout: policy.timeoutMs ?? 15_000 }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        resolve({ location: new URL(res.headers.location, target).toString() });
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(new FlowImageError(`the flow's image ${url} answered HTTP ${status}`, status >= 500 || status === 429));
        return;
      }
      if (Number(res.headers['content-length'] ?? 0) > policy.maxBytes) {
        res.destroy();
        reject(new FlowImageError(`the flow's image ${url} is larger than ${policy.maxBytes} bytes`, false));
        return;
      }
      // Read up to the limit, never more (a server that sends no length, or another one).
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > policy.maxBytes) {
          res.destroy();
          reject(new FlowImageError(`the flow's image ${url} is larger than ${policy.maxBytes} bytes`, false));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ bytes: Buffer.concat(chunks) }));
      res.on('error', (err) => reject(new FlowImageError(`the flow's image ${url} could not be read (${err.message})`, true)));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => {
      if (err instanceof PrivateAddressError) reject(new FlowImageError(`the flow's image ${url}: ${err.message}`, false));
      else reject(new FlowImageError(`the flow's image ${url} could not be fetched (${err.message})`, true));
    });
  });
}
