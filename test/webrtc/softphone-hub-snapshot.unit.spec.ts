// softphoneCalls starts with the calls on the agent's softphone as they are now: a browser that reloads
// while a call rings sees it ring at once, then what happens to it.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SoftphoneHub, type SoftphoneCallControl, type SoftphoneCallState } from '../../src/adapters/webrtc/softphone-hub.ts';
import { SoftphonePeer } from '../../src/adapters/webrtc/softphone-peer.ts';

/** A peer with no network behind it: the hub only registers callbacks on it and closes it. */
const quietPeer = () =>
  ({ codec: 'PCMU', payloadType: 0, lastRtpAt: Date.now(), onRtp() {}, onGone() {}, close: async () => undefined }) as unknown as SoftphonePeer;

function call(callId: string, state: SoftphoneCallState): SoftphoneCallControl {
  return { callId, contactId: `contact-${callId}`, callerId: '+8613800000000', callerName: null, state, answer() {}, reject() {}, hangUp() {}, lost() {} };
}

describe('softphone hub subscriptions', () => {
  const hubs: SoftphoneHub[] = [];
  afterEach(async () => {
    for (const hub of hubs.splice(0)) await hub.close();
    vi.restoreAllMocks();
  });

  it('start with the calls ringing or connected on the softphone, then the changes', async () => {
    vi.spyOn(SoftphonePeer, 'answer').mockResolvedValue(quietPeer());
    const hub = new SoftphoneHub({ logger: { info() {}, warn() {} }, clock: () => new Date('2026-01-01T00:00:00Z') } as never);
    hubs.push(hub);
    const ann = { instanceId: 'acme', agentId: 'ann' };
    const softphone = await hub.connect(ann, 'v=0');
    const ringing = call('c1', 'RINGING');
    softphone.calls.set('c1', ringing);
    softphone.calls.set('c0', call('c0', 'ENDED'));

    const feed = hub.subscribe(ann);
    expect((await feed.next()).value).toMatchObject({ callId: 'c1', state: 'RINGING', contactId: 'contact-c1', reason: null });
    hub.publish(softphone, { ...ringing, state: 'CONNECTED' }, 'CONNECTED');
    expect((await feed.next()).value).toMatchObject({ callId: 'c1', state: 'CONNECTED' });
    // Another agent's subscription has nothing of Ann's.
    const bob = hub.subscribe({ instanceId: 'acme', agentId: 'bob' });
    const nothing = await Promise.race([bob.next(), new Promise((r) => setImmediate(() => r('none')))]);
    expect(nothing).toBe('none');
    await feed.return!();
    await bob.return!();
  });
});
