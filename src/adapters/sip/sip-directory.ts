// The port the SIP adapter needs from the rest of Kefu; implemented elsewhere over read models.

export interface SipTrunk {
  id: string;
  instanceId: string;
  /** IPv4/IPv6 addresses or CIDRs the trunk sends from. */
  allowedAddresses: string[];
  /** When set, calls from other addresses may authenticate with Proxy-Authorization. ha1 = md5(username:realm:password). */
  digest: { username: string; ha1: string } | null;
}

export interface SipNumber {
  instanceId: string;
  number: string;
  flowId: string | null;
}

export interface SipExtension {
  instanceId: string;
  agentId: string;
  /** md5(username:realm:password), realm = SipServerOptions.realm. */
  ha1: string;
}

export interface SipDirectory {
  /** The DID a trunk call is for (the Request-URI user part, digits with optional leading +): its instance and flow, or null -> 404. */
  findNumber(number: string): Promise<SipNumber | null>;
  trunksOf(instanceId: string): Promise<SipTrunk[]>;
  /** An agent's SIP extension by username (globally unique). */
  findExtension(username: string): Promise<SipExtension | null>;
}
