// Reception prompts (issue 12) all switched off: for specs of other chat features that count a conversation's
// messages exactly (createWebChannel's receptionPrompts input).
export const noReceptionPrompts = {
  welcome: { enabled: false },
  queueing: { enabled: false },
  transferredToAgent: { enabled: false },
  noAgentOnline: { enabled: false },
  offHours: { enabled: false },
  idleReminder: { enabled: false },
  autoEnd: { enabled: false },
  agentEnded: { enabled: false },
};
