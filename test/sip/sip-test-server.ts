// An in-process SipServer on a test port with an in-memory SipDirectory.
import { digestHa1 } from '../../src/adapters/sip/digest-auth.ts';
import type { InboundCall } from '../../src/adapters/sip/inbound-call.ts';
import type { SipDirectory, SipExtension, SipNumber, SipTrunk } from '../../src/adapters/sip/sip-directory.ts';
import { SipServer, type SipServerOptions } from '../../src/adapters/sip/sip-server.ts';
import type { SipLogger } from '../../src/adapters/sip/sip-logger.ts';

export const realm = 'kefu.test';

export class InMemorySipDirectory implements SipDirectory {
  numbers = new Map<string, SipNumber>();
  trunks = new Map<string, SipTrunk[]>();
  extensions = new Map<string, SipExtension>();

  addExtension(username: string, password: string, agentId: string, instanceId = 'inst-1'): void {
    this.extensions.set(username, { instanceId, agentId, ha1: digestHa1(username, realm, password) });
  }

  addNumber(number: string, instanceId: string, flowId: string | null = 'flow-1'): void {
    this.numbers.set(number, { instanceId, number, flowId });
  }

  addTrunk(trunk: SipTrunk): void {
    this.trunks.set(trunk.instanceId, [...(this.trunks.get(trunk.instanceId) ?? []), trunk]);
  }

  async findNumber(number: string) {
    return this.numbers.get(number) ?? null;
  }

  async trunksOf(instanceId: string) {
    return this.trunks.get(instanceId) ?? [];
  }

  async findExtension(username: string) {
    return this.extensions.get(username) ?? null;
  }
}

export const quietLogger: SipLogger = {
  info: () => {},
  warn: () => {},
  debug: () => {},
  error: (obj, msg) => console.error(msg, obj),
};

export interface TestSipServer {
  server: SipServer;
  directory: InMemorySipDirectory;
  calls: InboundCall[];
  clock: { now: number | null };
  stop(): Promise<void>;
}

export async function startTestSipServer(
  port: number,
  onInboundCall: (call: InboundCall) => void = () => {},
  options: Partial<SipServerOptions> = {},
): Promise<TestSipServer> {
  const directory = new InMemorySipDirectory();
  const calls: InboundCall[] = [];
  // null = real time; a number freezes the clock there.
  const clock: { now: number | null } = { now: null };
  const server = new SipServer(
    { port, bindAddress: '127.0.0.1', publicAddress: '127.0.0.1', realm, udp: true, tcp: true, logger: quietLogger, ...options },
    {
      directory,
      now: () => clock.now ?? Date.now(),
      onInboundCall: (call) => {
        calls.push(call);
        onInboundCall(call);
      },
    },
  );
  await server.start();
  return { server, directory, calls, clock, stop: () => server.stop() };
}

export const sampleSdp = (port: number) =>
  ['v=0', 'o=kefu 1 1 IN IP4 127.0.0.1', 's=kefu', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0 8 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000', 'a=sendrecv', ''].join('\r\n');

export function eventually(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (check()) return resolve();
      if (Date.now() - started > timeoutMs) return reject(new Error('condition not met in time'));
      setTimeout(poll, 20);
    };
    poll();
  });
}
