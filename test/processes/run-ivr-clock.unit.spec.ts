// The IVR reads the call's clock (CallDeps.clock: startKefu's `clock`, which tests set): a business-hours step
// takes its open or closed branch by it, not by the machine's time.
import { describe, expect, it } from 'vitest';
import type { RtpLeg } from '../../src/adapters/media/media-port.ts';
import { parseFlowDocument } from '../../src/domain/flow/flow-document.ts';
import type { CallDeps } from '../../src/processes/calls/call-deps.ts';
import { runIvr } from '../../src/processes/calls/tasks/run-ivr.ts';
import { testClock } from '../support/test-clock.ts';

const group = '11111111-1111-4111-8111-111111111111';
const flow = parseFlowDocument({
  start: 'hours',
  nodes: [
    { id: 'hours', type: 'businessHours', timeZone: 'Asia/Shanghai', weekly: [{ days: ['MON', 'TUE', 'WED', 'THU', 'FRI'], open: '09:00', close: '18:00' }], open: 'sales', closed: 'closed' },
    { id: 'sales', type: 'route', skillGroupId: group },
    { id: 'closed', type: 'hangup', reason: 'afterHours' },
  ],
});

/** A caller's leg that never presses a key (none is asked for here). */
const silentLeg = { onDtmf: () => () => undefined } as unknown as RtpLeg;

async function callAt(at: string) {
  const clock = testClock();
  clock.setTo(at);
  const deps = { clock: clock.now } as unknown as CallDeps;
  const metadata = () => ({ now: clock.now().toISOString(), instanceId: 'i1', actor: 'test', correlationId: 'c1' });
  return runIvr(deps, { instanceId: 'i1', contactId: 'c1', flow, leg: silentLeg, metadata, gone: new AbortController().signal });
}

describe('the IVR on the call clock', () => {
  it('routes at 10:00 on a Monday in Shanghai', async () => {
    expect(await callAt('2026-11-23T02:00:00Z')).toMatchObject({ type: 'route', skillGroupId: group });
  });

  it('hangs up after hours on a Sunday in Shanghai, whatever the machine\'s day', async () => {
    expect(await callAt('2026-11-22T02:00:00Z')).toMatchObject({ type: 'hangup', reason: 'afterHours' });
  });
});
