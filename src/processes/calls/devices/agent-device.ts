// Where an agent takes calls: a registered SIP phone, the browser softphone (WebRTC) or a mobile number
// dialled through the trunk (PH-3). A call session rings devices through this one interface and gets back a
// media leg that the bridge connects to the customer's.
import type { RtpLeg } from '../../../adapters/media/media-port.ts';
import type { AgentDevice as DeviceKind } from '../../../domain/contact/contact.ts';

export interface RingRequest {
  contactId: string;
  instanceId: string;
  /** Shown on the device: the customer's number and name. */
  callerId: string;
  callerName: string | null;
}

export interface DeviceEvents {
  ringing(): void;
  /** Picked up; `leg` now sends to and receives from the device. */
  answered(): void;
  /** Busy, declined, unreachable or not answered. */
  failed(status: number, reason: string): void;
  /** Hung up by the device after answering; 'lost' when the device vanished (a browser closed mid-call). */
  ended(cause?: 'lost'): void;
  /** The device asks to transfer the call (a SIP phone's REFER); without this handler the device is refused. */
  transferRequested?(request: TransferRequest): void;
}

/** A transfer a device asked for: the session looks the target up and answers through it (PH-4). */
export interface TransferRequest {
  /** The target as the device named it: a SIP URI's user part (an agent's SIP username or a skill group id). */
  readonly target: string;
  /** Taken on: the device hears that the transfer is being tried. */
  accept(): Promise<void>;
  /** Refused (404 unknown target, 403 not allowed now): nothing changes. */
  reject(status: number, reason: string): void;
  /** After accept(): the transfer was done, or failed. */
  succeeded(): Promise<void>;
  failed(status: number, reason: string): Promise<void>;
}

export interface DeviceCall {
  readonly leg: RtpLeg;
  /** Stops ringing (before the answer). */
  cancel(): void;
  /** Hangs up (after the answer) and frees the leg; safe to call more than once, and before the answer. */
  hangup(): Promise<void>;
  /** The call was put on hold or resumed (the softphone shows it; a phone has nothing to show). */
  held?(on: boolean): void;
}

export interface AgentDevice {
  readonly kind: DeviceKind;
  /** Where it is, for the record and logs (a SIP source address, "browser", a masked mobile number). */
  readonly label: string;
  ring(request: RingRequest, events: DeviceEvents): Promise<DeviceCall>;
}

/** The devices an agent can take a call on right now. */
export interface AgentDevices {
  devicesOf(instanceId: string, agentId: string): Promise<AgentDevice[]>;
}
