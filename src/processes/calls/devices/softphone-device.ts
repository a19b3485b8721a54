// An agent's browser softphone (WebRTC): ringing it is an event on the agent's softphoneCalls subscription;
// the agent's answer, reject or hang-up comes back through the API. Its media leg is a piped leg of the
// media engine (werift's decrypted RTP in, the bridge's RTP out through werift), so the bridge and the
// recorder treat it like any SIP leg. G.711 on both sides: at most a mu-law/A-law byte map in the bridge.
import { randomUUID } from 'node:crypto';
import type { MediaEngine, RtpLeg } from '../../../adapters/media/media-port.ts';
import type { Softphone, SoftphoneCallControl, SoftphoneCallState, SoftphoneHub } from '../../../adapters/webrtc/softphone-hub.ts';
import type { AgentDevice, DeviceCall, DeviceEvents, RingRequest } from './agent-device.ts';
import type { DeviceSource } from './device-directory.ts';

export class SoftphoneDevice implements AgentDevice {
  readonly kind = 'WEBRTC' as const;
  readonly label: string;
  private readonly softphone: Softphone;
  private readonly hub: SoftphoneHub;
  private readonly media: MediaEngine;

  constructor(o: { softphone: Softphone; hub: SoftphoneHub; media: MediaEngine }) {
    this.softphone = o.softphone;
    this.hub = o.hub;
    this.media = o.media;
    this.label = `browser ${o.softphone.id}`;
  }

  async ring(request: RingRequest, events: DeviceEvents): Promise<DeviceCall> {
    const softphone = this.softphone;
    const { leg, deliver } = await this.media.openPipedLeg(`softphone ${softphone.agentId}`, (packet) => softphone.peer.send(packet), { group: request.contactId });
    leg.setRemote({ address: 'webrtc', port: 0 }, softphone.peer.codec, softphone.peer.payloadType, null);
    return new SoftphoneCall({ softphone, hub: this.hub, leg, deliver, request, events });
  }
}

/** One call on a softphone, from ringing to its end; every way out (agent, Kefu, a lost browser) ends here once. */
export class SoftphoneCall implements DeviceCall, SoftphoneCallControl {
  readonly callId = randomUUID();
  readonly leg: RtpLeg;
  readonly contactId: string;
  readonly callerId: string;
  readonly callerName: string | null;
  state: SoftphoneCallState = 'RINGING';
  private readonly softphone: Softphone;
  private readonly hub: SoftphoneHub;
  private readonly deliver: (packet: Buffer) => void;
  private readonly events: DeviceEvents;

  constructor(o: { softphone: Softphone; hub: SoftphoneHub; leg: RtpLeg; deliver: (packet: Buffer) => void; request: RingRequest; events: DeviceEvents }) {
    this.softphone = o.softphone;
    this.hub = o.hub;
    this.leg = o.leg;
    this.deliver = o.deliver;
    this.events = o.events;
    this.contactId = o.request.contactId;
    this.callerId = o.request.callerId;
    this.callerName = o.request.callerName;
    this.softphone.calls.set(this.callId, this);
    this.hub.publish(this.softphone, this, 'RINGING');
    // After ring() returned: the ring knows this call before it hears of it.
    queueMicrotask(() => {
      if (this.state === 'RINGING') this.events.ringing();
    });
  }

  private get talking(): boolean {
    return this.state === 'CONNECTED' || this.state === 'HELD' || this.state === 'RESUMED';
  }

  private end(reason: string): void {
    if (this.talking) this.softphone.routeTo(null);
    this.state = 'ENDED';
    this.softphone.calls.delete(this.callId);
    this.hub.publish(this.softphone, this, 'ENDED', reason);
    void this.leg.close();
  }

  answer(): void {
    if (this.state !== 'RINGING') return;
    this.state = 'CONNECTED';
    // The media watchdog counts from the answer, not from the browser's last packet before it.
    this.softphone.peer.lastRtpAt = Math.max(this.softphone.peer.lastRtpAt, Date.now());
    this.softphone.routeTo(this.deliver);
    this.hub.publish(this.softphone, this, 'CONNECTED');
    this.events.answered();
  }

  reject(): void {
    if (this.state !== 'RINGING') return;
    this.end('rejected');
    this.events.failed(603, 'Decline');
  }

  hangUp(): void {
    if (!this.talking) return;
    this.end('agentHungUp');
    this.events.ended();
  }

  lost(why: string): void {
    if (this.state === 'RINGING') {
      this.end('softphoneLost');
      this.events.failed(480, `softphone lost: ${why}`);
    } else if (this.talking) {
      this.end('softphoneLost');
      this.events.ended('lost');
    }
  }

  /** Hold and resume by the call session (holdCall/resumeCall): the browser shows it; media follows the bridge. */
  held(on: boolean): void {
    if (!this.talking) return;
    this.state = on ? 'HELD' : 'RESUMED';
    this.hub.publish(this.softphone, this, this.state);
  }

  cancel(): void {
    if (this.state === 'RINGING') this.end('cancelled');
  }

  async hangup(): Promise<void> {
    if (this.state === 'RINGING') this.end('cancelled');
    else if (this.talking) this.end('callEnded');
    await this.leg.close();
  }
}

/** The DeviceDirectory source: the agent's connected softphone, if any. */
export function softphoneDevices(hub: SoftphoneHub, media: MediaEngine): DeviceSource {
  return (instanceId, agentId) => {
    const softphone = hub.softphoneOf({ instanceId, agentId });
    return softphone ? [new SoftphoneDevice({ softphone, hub, media })] : [];
  };
}
