// Who an agent's phone can transfer a call to by SIP REFER (PH-4): the Refer-To URI's user part is either
// another agent's SIP username (`sip:bob@kefu`) or the id of a PHONE skill group (`sip:<skillGroupId>@kefu`),
// in the call's own instance. Anything else is unknown (404), so a typo never moves the caller.
import { normalizeSipUsername } from '../../domain/telephony/sip-username.ts';
import type { ReadModel } from '../../projections/projection.ts';
import type { TransferTarget } from './call-deps.ts';

export function transferTargetsIn(db: ReadModel) {
  return async (instanceId: string, name: string): Promise<TransferTarget | null> => {
    const agent = await db
      .selectFrom('sip_extensions as x')
      .innerJoin('agents as a', (j) => j.onRef('a.instance_id', '=', 'x.instance_id').onRef('a.id', '=', 'x.agent_id'))
      .select('x.agent_id')
      .where('x.instance_id', '=', instanceId)
      .where('x.username', '=', normalizeSipUsername(name))
      .where('a.deleted_at', 'is', null)
      .executeTakeFirst();
    if (agent) return { agentId: agent.agent_id, skillGroupId: null };
    const group = await db
      .selectFrom('skill_groups')
      .select('id')
      .where('instance_id', '=', instanceId)
      .where('id', '=', name)
      .where('channel', '=', 'PHONE')
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    return group ? { agentId: null, skillGroupId: group.id } : null;
  };
}
