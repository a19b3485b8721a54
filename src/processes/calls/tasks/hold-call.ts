// Hold and resume (PH-4): the customer hears music while the agents' side is cut off; the recording goes on,
// silent on both channels, so its length still matches the call. Resuming relays again.
import type { RtpLeg } from '../../../adapters/media/media-port.ts';
import type { RecordedBridge } from './bridge-call.ts';

export function holdCustomer(customer: RtpLeg, bridge: RecordedBridge | null, music: Int16Array): void {
  bridge?.pause();
  customer.play(music, { loop: true });
}

export function resumeCustomer(customer: RtpLeg, bridge: RecordedBridge | null): void {
  customer.stopPlayback();
  bridge?.resume();
}
