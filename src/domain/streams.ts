// Stream names: `<category>-<instanceId>.<entityId>`; the category stands before the first dash so that
// EventStoreDB's `$ce-<category>` projections work.

export const streams = {
  instance: (instanceId: string) => `instance-${instanceId}`,
  agent: (instanceId: string, agentId: string) => `agent-${instanceId}.${agentId}`,
  skillGroup: (instanceId: string, skillGroupId: string) => `skillgroup-${instanceId}.${skillGroupId}`,
  contact: (instanceId: string, contactId: string) => `contact-${instanceId}.${contactId}`,
  blacklist: (instanceId: string) => `blacklist-${instanceId}`,
};

export function streamCategory(streamId: string): string {
  const dash = streamId.indexOf('-');
  return dash < 0 ? streamId : streamId.slice(0, dash);
}
