// The AV bench's failed calls (bench/av/failures.ts): a call that was up and went down, or whose media stopped,
// is a failed call with its cause (not a loss figure), and the notes count failed calls by cause.
import { describe, expect, it } from 'vitest';
import { downWhy, failureCauses, type SideState } from '../../bench/av/failures.ts';

const side = (sent: number, received: number, down: string | null = null): SideState => ({
  downWhy: down,
  sent: { audio: sent, video: sent },
  received: { audio: { unique: received }, video: { unique: received } },
});

describe('AV bench failed calls', () => {
  it('a call is down when a side lost its connection, or (after the window) when media sent did not arrive', () => {
    expect(downWhy({ customer: side(0, 0), agent: side(0, 0) }, false)).toBeNull();
    expect(downWhy({ customer: side(100, 99), agent: side(100, 98) }, true)).toBeNull();
    expect(downWhy({ customer: side(0, 0), agent: side(0, 0, 'connection failed 12 s after it was up (ICE failed)') }, false)).toBe("agent's connection failed 12 s after it was up (ICE failed)");
    // Nothing received of what the agent sent: the customer's side of the call is gone (Kefu ended it, say).
    expect(downWhy({ customer: side(100, 0), agent: side(100, 97) }, true)).toBe('no audio reached the customer in the window (100 sent)');
    expect(downWhy({ customer: side(100, 0), agent: side(100, 97) }, false)).toBeNull();
  });

  it('counts failed calls by cause', () => {
    expect(
      failureCauses([
        'agent: peer: connection failed (ICE failed); pairs: succeeded (6 checks, 5 resent, 2 answered); DTLS connecting',
        'agent: peer: connection failed (ICE failed); pairs: succeeded (6 checks, 5 resent, 2 answered); DTLS connecting',
        'down in the window: no video reached the agent in the window (760 sent) (contact ENDED customerDisconnected by SYSTEM)',
        'no video both ways in 120 s (agent does not see the customer)',
      ]),
    ).toBe('ICE failed: 2; dropped after set-up, Kefu ended the contact (customerDisconnected by SYSTEM): 1; not up in time: 1');
  });
});
