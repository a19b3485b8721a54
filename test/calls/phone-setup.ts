// One instance ready to take phone calls, set up through the public API as an admin would: approved
// qualification, agents with SIP extensions, a PHONE skill group, a trunk allowing 127.0.0.1, and numbers
// bound to a menu flow (press 1 for sales) and to an always-closed flow.
export type Ok = <T = Record<string, unknown>>(token: string | null, query: string, variables?: Record<string, unknown>) => Promise<T>;

export const NUMBER = '+861012345678';
export const OFF_HOURS_NUMBER = '+861012340000';
export const sipPassword = 'sip-secret-123';

export interface PhoneInstance {
  instanceId: string;
  adminKey: string;
  groupId: string;
  agents: { id: string; token: string; sipUser: string }[];
}

export async function setUpPhoneInstance(ok: Ok, operatorToken: string, o: { agents: string[]; tag: string }): Promise<PhoneInstance> {
  const created = await ok<{ createInstance: { instance: { id: string }; adminApiKey: string } }>(operatorToken, 'mutation { createInstance(input: { name: "Acme" }) { instance { id } adminApiKey } }');
  const instanceId = created.createInstance.instance.id;
  const adminKey = created.createInstance.adminApiKey;
  await ok(operatorToken, 'mutation($id: ID!) { purchaseSeats(input: { instanceId: $id, seats: 20 }) { id } }', { id: instanceId });
  await ok(adminKey, 'mutation { submitQualification(input: { companyName: "Acme", registrationNumber: "91310000MA1", documents: ["licence.pdf"] }) { id } }');
  await ok(operatorToken, 'mutation($id: ID!) { reviewQualification(input: { instanceId: $id, approve: true }) { id } }', { id: instanceId });
  const g = await ok<{ createSkillGroup: { id: string } }>(
    adminKey,
    'mutation { createSkillGroup(input: { name: "Sales", channel: PHONE, strategy: LONGEST_IDLE, ringTimeoutSeconds: 5, wrapUpSeconds: 0, breakAfterMissedOffer: true }) { id } }',
  );
  const groupId = g.createSkillGroup.id;
  const agents: PhoneInstance['agents'] = [];
  for (const [i, name] of o.agents.entries()) {
    const login = name.toLowerCase();
    const a = await ok<{ createAgent: { id: string } }>(adminKey, 'mutation($input: CreateAgentInput!) { createAgent(input: $input) { id } }', {
      input: { name, login, password: 'password-123' },
    });
    const token = await ok<{ loginAgent: { token: string } }>(null, 'mutation($input: LoginAgentInput!) { loginAgent(input: $input) { token } }', {
      input: { instanceId, login, password: 'password-123' },
    });
    const sipUser = `agent${i}-${o.tag}`;
    await ok(adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: groupId, a: a.createAgent.id });
    await ok(adminKey, 'mutation($input: SetAgentSipCredentialsInput!) { setAgentSipCredentials(input: $input) { username } }', {
      input: { agentId: a.createAgent.id, username: sipUser, password: sipPassword },
    });
    agents.push({ id: a.createAgent.id, token: token.loginAgent.token, sipUser });
  }
  await ok(adminKey, 'mutation { createTrunk(input: { name: "Carrier", allowedAddresses: ["127.0.0.1/32"] }) { id } }');
  const flow = (name: string, definition: unknown) =>
    ok<{ createFlow: { id: string } }>(adminKey, 'mutation($input: CreateFlowInput!) { createFlow(input: $input) { id } }', { input: { name, kind: 'IVR', definition } });
  const menu = await flow('Main menu', {
    start: 'menu',
    nodes: [
      { id: 'menu', type: 'menu', prompt: { text: 'Welcome to Acme. For sales, press 1.' }, options: { '1': { next: 'sales', label: 'Sales' } }, timeoutSeconds: 8, retries: 1, onFailure: 'bye' },
      { id: 'sales', type: 'route', skillGroupId: groupId },
      { id: 'bye', type: 'hangup', prompt: { text: 'Goodbye.' } },
    ],
  });
  const closed = await flow('Closed', {
    start: 'hours',
    nodes: [
      // No opening hours at all: every call is out of hours.
      { id: 'hours', type: 'businessHours', timeZone: 'Asia/Shanghai', weekly: [], open: 'sales', closed: 'closed' },
      { id: 'sales', type: 'route', skillGroupId: groupId },
      { id: 'closed', type: 'hangup', prompt: { text: 'We are closed. Please call again tomorrow.' }, reason: 'afterHours' },
    ],
  });
  const bind = (n: string, f: string) => ok(adminKey, 'mutation($n: String!, $f: ID!) { bindNumber(input: { number: $n, flowId: $f }) { number } }', { n, f });
  await bind(NUMBER, menu.createFlow.id);
  await bind(OFF_HOURS_NUMBER, closed.createFlow.id);
  return { instanceId, adminKey, groupId, agents };
}
