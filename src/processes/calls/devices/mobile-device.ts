// An agent's mobile phone (PH-3 mobile answering): Kefu dials the mobile number through the instance's
// outbound trunk, like any call to the outside, and bridges the call when it is answered. The ring timeout
// is the offer's: the router times the offer out and the session cancels the ring.
import type { MediaEngine } from '../../../adapters/media/media-port.ts';
import { buildOfferSdp } from '../../../adapters/media/sdp.ts';
import type { MobileAnsweringMode } from '../../../domain/agent/agent.ts';
import { maskedNumber, trunkRequestUri } from '../../../domain/telephony/outbound-rules.ts';
import type { AgentDevice, DeviceCall, DeviceEvents, RingRequest } from './agent-device.ts';
import type { DeviceSource } from './device-directory.ts';
import { dialledCall, type SipDialer } from './sip-phone-device.ts';

export class MobileDevice implements AgentDevice {
  readonly kind = 'MOBILE' as const;
  readonly label: string;
  private readonly requestUri: string;
  private readonly media: MediaEngine;
  private readonly sip: SipDialer;

  constructor(o: { mobileNumber: string; trunkOutboundUri: string; media: MediaEngine; sip: SipDialer }) {
    this.requestUri = trunkRequestUri(o.trunkOutboundUri, o.mobileNumber);
    this.label = `mobile ${maskedNumber(o.mobileNumber)}`;
    this.media = o.media;
    this.sip = o.sip;
  }

  async ring(request: RingRequest, events: DeviceEvents): Promise<DeviceCall> {
    const leg = await this.media.openLeg(this.label, { group: request.contactId });
    const sdp = buildOfferSdp({ address: leg.local.address, port: leg.local.port });
    // The mobile shows the customer's number, as a desk phone would.
    const call = this.sip.call({ uri: this.requestUri }, { from: request.callerId, sdp });
    return dialledCall(call, leg, events);
  }
}

export interface MobileSetting {
  mode: MobileAnsweringMode;
  mobileNumber: string | null;
  /** The agent's presence as the agents read model shows it (AVAILABLE, BREAK, OFFLINE, FORCED_OFFLINE). */
  presence: string;
}

/**
 * The mobile as one of an agent's devices: always with ALWAYS; with WHEN_OFFLINE only while the agent is
 * offline (at the desk, their phones and softphone take the call). Needs the instance's outbound trunk.
 */
export function mobileDeviceSource(o: {
  setting: (instanceId: string, agentId: string) => Promise<MobileSetting | null>;
  outboundTrunk: (instanceId: string) => Promise<{ outboundUri: string } | null>;
  media: MediaEngine;
  sip: () => SipDialer;
}): DeviceSource {
  return async (instanceId, agentId) => {
    const setting = await o.setting(instanceId, agentId);
    if (!setting?.mobileNumber || setting.mode === 'NEVER') return [];
    if (setting.mode === 'WHEN_OFFLINE' && setting.presence !== 'OFFLINE') return [];
    const trunk = await o.outboundTrunk(instanceId);
    if (!trunk) return [];
    return [new MobileDevice({ mobileNumber: setting.mobileNumber, trunkOutboundUri: trunk.outboundUri, media: o.media, sip: o.sip() })];
  };
}
