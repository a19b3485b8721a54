// Shared by the flow, telephony and audio API specs: a reception flow document and an instance that may
// bind numbers (qualification approved) with a PHONE skill group.
import { operatorToken, seedInstance, type TestKefu } from '../support/kefu.ts';

export function receptionFlow(groupId: string, extra: Record<string, unknown>[] = []) {
  return {
    start: 'hours',
    nodes: [
      { id: 'hours', type: 'businessHours', timeZone: 'Asia/Shanghai', weekly: [{ days: ['MON', 'TUE', 'WED', 'THU', 'FRI'], open: '09:00', close: '18:00' }], open: 'menu', closed: 'closed' },
      { id: 'menu', type: 'menu', prompt: { text: 'Press 1 for sales' }, options: { '1': { next: 'sales', label: 'Sales' } }, onFailure: 'closed' },
      { id: 'sales', type: 'route', skillGroupId: groupId },
      { id: 'closed', type: 'hangup', prompt: { text: 'Goodbye' } },
      ...extra,
    ],
  };
}

/** An instance with an approved qualification (numbers can be bound) and a PHONE skill group. */
export async function telephonyInstance(t: TestKefu, name: string, agents: { name: string; login: string; role?: 'AGENT' | 'SUPERVISOR' | 'ADMIN' }[] = []) {
  const seeded = await seedInstance(t, { name, agents });
  await t.ok(seeded.adminKey, 'mutation { submitQualification(input: { companyName: "Co", registrationNumber: "1", documents: ["d"] }) { id } }');
  await t.ok(operatorToken, 'mutation($id: ID!) { reviewQualification(input: { instanceId: $id, approve: true }) { id } }', { id: seeded.instanceId });
  const g = await t.ok<{ createSkillGroup: { id: string } }>(seeded.adminKey, 'mutation($n: String!) { createSkillGroup(input: { name: $n, channel: PHONE }) { id } }', { n: `${name} sales` });
  return { ...seeded, groupId: g.createSkillGroup.id };
}
