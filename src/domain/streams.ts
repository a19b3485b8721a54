// Stream names: `<category>-<instanceId>.<entityId>`; the category stands before the first dash so that
// EventStoreDB's `$ce-<category>` projections work.

export const streams = {
  instance: (instanceId: string) => `instance-${instanceId}`,
  agent: (instanceId: string, agentId: string) => `agent-${instanceId}.${agentId}`,
  skillGroup: (instanceId: string, skillGroupId: string) => `skillgroup-${instanceId}.${skillGroupId}`,
  contact: (instanceId: string, contactId: string) => `contact-${instanceId}.${contactId}`,
  blacklist: (instanceId: string) => `blacklist-${instanceId}`,
  flow: (instanceId: string, flowId: string) => `flow-${instanceId}.${flowId}`,
  audio: (instanceId: string, audioId: string) => `audio-${instanceId}.${audioId}`,
  trunk: (instanceId: string, trunkId: string) => `trunk-${instanceId}.${trunkId}`,
  sipExtension: (instanceId: string, agentId: string) => `sipextension-${instanceId}.${agentId}`,
  webChannel: (instanceId: string, webChannelId: string) => `webchannel-${instanceId}.${webChannelId}`,
  /** Which chat a web channel's customer holds open (key: a hash of channel, verification and customer id). */
  visitorChat: (instanceId: string, key: string) => `visitorchat-${instanceId}.${key}`,
  /** Where a chat stands in its chat flow (OL-13). */
  chatFlowRun: (instanceId: string, contactId: string) => `chatflowrun-${instanceId}.${contactId}`,
  /** A file sent in a chat (OL-15). */
  chatFile: (instanceId: string, fileId: string) => `chatfile-${instanceId}.${fileId}`,
  /** A WeChat official account or mini program (issue 13). */
  wechatAccount: (instanceId: string, wechatAccountId: string) => `wechataccount-${instanceId}.${wechatAccountId}`,
  /** Shared quick-reply categories of an instance (their names, scopes and order). */
  quickReplyCatalog: (instanceId: string) => `quickreplies-${instanceId}`,
  /** The replies of one shared quick-reply category. */
  quickReplyCategory: (instanceId: string, categoryId: string) => `quickreplycategory-${instanceId}.${categoryId}`,
  /** One agent's personal quick replies. */
  quickReplyPersonal: (instanceId: string, agentId: string) => `quickreplypersonal-${instanceId}.${agentId}`,
  /** A webhook subscription (issue 16). */
  webhook: (instanceId: string, webhookId: string) => `webhook-${instanceId}.${webhookId}`,
  /** Platform-wide: a number belongs to one instance at most; the key is its digits (see numberKey). */
  phoneNumber: (numberKey: string) => `number-global.${numberKey}`,
  /** Platform-wide: a SIP username names one agent at most. */
  sipUsername: (username: string) => `sipuser-global.${username}`,
};

export function streamCategory(streamId: string): string {
  const dash = streamId.indexOf('-');
  return dash < 0 ? streamId : streamId.slice(0, dash);
}
