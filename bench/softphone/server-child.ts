// Kefu's side of the softphone bench, in its own process so its CPU can be read alone: the softphone hub
// (werift, DTLS-SRTP) and the UDP media engine; each call is a softphone's piped leg bridged (and recorded)
// to a UDP leg, as a softphone call bridged to a SIP caller is.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { UdpMediaEngine } from '../../src/adapters/media/udp-media-engine.ts';
import { SoftphoneHub } from '../../src/adapters/webrtc/softphone-hub.ts';

const engine = new UdpMediaEngine({ bindAddress: '127.0.0.1', publicAddress: '127.0.0.1', portMin: 36000, portMax: 37999 });
const quiet = { info: () => undefined, warn: () => undefined };
const hub = new SoftphoneHub({ publicAddress: '127.0.0.1', bindAddress: '127.0.0.1', logger: quiet, mediaTimeoutMs: 600_000 });
const dir = mkdtempSync(path.join(tmpdir(), 'kefu-bench-softphone-'));

type Message = { type: 'open'; id: string; sdp: string; callerPort: number } | { type: 'stats' } | { type: 'close' };

process.on('message', (raw) => {
  const m = raw as Message;
  void (async () => {
    if (m.type === 'open') {
      const softphone = await hub.connect({ instanceId: 'bench', agentId: m.id }, m.sdp);
      const caller = await engine.openLeg('customer');
      caller.setRemote({ address: '127.0.0.1', port: m.callerPort }, 'PCMA', 8, null);
      const { leg, deliver } = await engine.openPipedLeg('softphone', (p) => softphone.peer.send(p));
      leg.setRemote({ address: 'webrtc', port: 0 }, softphone.peer.codec, softphone.peer.payloadType, null);
      softphone.routeTo(deliver);
      engine.bridge(caller, leg, { recordTo: path.join(dir, `${m.id}.wav`) });
      process.send!({ type: 'opened', id: m.id, sdp: softphone.peer.answerSdp, callerLegPort: caller.local.port });
    } else if (m.type === 'stats') {
      let packetsIn = 0;
      let packetsOut = 0;
      for (const l of engine.legStats()) {
        packetsIn += l.stats.packetsIn;
        packetsOut += l.stats.packetsOut;
      }
      process.send!({ type: 'stats', packetsIn, packetsOut });
    } else {
      await hub.close();
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    }
  })().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
});
process.send!({ type: 'ready' });
