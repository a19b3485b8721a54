import { agentsProjection } from './agents/agents.projection.ts';
import { instancesProjection } from './instances/instances.projection.ts';
import type { Projection } from './projection.ts';
import { skillGroupsProjection } from './skill-groups/skill-groups.projection.ts';
import { contactsProjection } from './contacts/contacts.projection.ts';
import { blacklistProjection } from './blacklist/blacklist.projection.ts';
import { flowsProjection } from './flows/flows.projection.ts';
import { audioFilesProjection } from './flows/audio-files.projection.ts';
import { telephonyProjection } from './telephony/telephony.projection.ts';
import { callRecordsProjection } from './call-records/call-records.projection.ts';
import { chatRecordsProjection } from './chat-records/chat-records.projection.ts';
import { webChannelsProjection } from './web-channels/web-channels.projection.ts';
import { quickRepliesProjection } from './quick-replies/quick-replies.projection.ts';
import { reportsProjection } from './reports/reports.projection.ts';
import { wechatAccountsProjection } from './wechat-accounts/wechat-accounts.projection.ts';
import { webhooksProjection } from './webhooks/webhooks.projection.ts';

export const allProjections: Projection[] = [instancesProjection, agentsProjection, skillGroupsProjection, contactsProjection, blacklistProjection, flowsProjection, audioFilesProjection, telephonyProjection, callRecordsProjection, chatRecordsProjection, webChannelsProjection, quickRepliesProjection, reportsProjection, webhooksProjection, wechatAccountsProjection];

export function projectionNamed(name: string): Projection | undefined {
  return allProjections.find((p) => p.name === name);
}
