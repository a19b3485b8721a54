// A typed Kefu client: the agent side of a chat, the way the demo agent page (/demo/agent) drives it, with
// every operation's variables and result typed from schema.graphql by graphql-codegen (npm run codegen).
//   KEFU_URL=http://127.0.0.1:4000 KEFU_INSTANCE=<id> KEFU_LOGIN=ann KEFU_PASSWORD=... node examples/typed-client/src/agent-client.ts
import { graphql } from './gql/gql.ts';
import type { TypedDocumentString } from './gql/graphql.ts';

export class KefuClient {
  private readonly url: string;
  token: string | null = null;

  constructor(url: string) {
    this.url = url;
  }

  /** One GraphQL operation over HTTP: its variables and its data are the operation's own types. */
  async request<TResult, TVariables>(document: TypedDocumentString<TResult, TVariables>, ...[variables]: TVariables extends Record<string, never> ? [] : [TVariables]): Promise<TResult> {
    const res = await fetch(`${this.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
      body: JSON.stringify({ query: document.toString(), variables }),
    });
    const body = (await res.json()) as { data?: TResult | null; errors?: { message: string; extensions?: { code?: string } }[] };
    if (body.errors?.length) throw new Error(body.errors.map((e) => `${e.extensions?.code ?? 'ERROR'}: ${e.message}`).join('; '));
    if (!body.data) throw new Error(`no data (HTTP ${res.status})`);
    return body.data;
  }
}

export const LoginAgent = graphql(`
  mutation LoginAgent($input: LoginAgentInput!) {
    loginAgent(input: $input) {
      token
      expiresAt
    }
  }
`);

export const Me = graphql(`
  query Me {
    me {
      __typename
      ... on AgentPrincipal {
        agent {
          id
          name
          presence
        }
      }
    }
  }
`);

export const SetPresence = graphql(`
  mutation SetPresence($presence: PresenceChoice!, $reason: String) {
    setPresence(input: { presence: $presence, reason: $reason }) {
      presence
      breakReason
    }
  }
`);

export const AcceptOffer = graphql(`
  mutation AcceptOffer($input: OfferInput!) {
    acceptOffer(input: $input) {
      id
      status
      channel
    }
  }
`);

export const SendChatMessage = graphql(`
  mutation SendChatMessage($input: SendChatMessageInput!) {
    sendChatMessage(input: $input) {
      id
      seq
      sender
      kind
      text
      sentAt
    }
  }
`);

export const EndContact = graphql(`
  mutation EndContact($contactId: ID!) {
    endContact(input: { contactId: $contactId }) {
      status
    }
  }
`);

/** Logs in, goes available and says who it is: `node examples/typed-client/src/agent-client.ts`. */
async function main(): Promise<void> {
  const env = process.env;
  const client = new KefuClient(env.KEFU_URL ?? 'http://127.0.0.1:4000');
  const login = await client.request(LoginAgent, { input: { instanceId: env.KEFU_INSTANCE ?? '', login: env.KEFU_LOGIN ?? '', password: env.KEFU_PASSWORD ?? '' } });
  client.token = login.loginAgent.token;
  const me = await client.request(Me);
  // The union is narrowed by __typename: only an AgentPrincipal has an agent.
  if (me.me.__typename !== 'AgentPrincipal') throw new Error(`not an agent: ${me.me.__typename}`);
  const status = await client.request(SetPresence, { presence: 'AVAILABLE' });
  console.log(`${me.me.agent.name} (${me.me.agent.id}) is ${status.setPresence.presence}; the token expires at ${login.loginAgent.expiresAt}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
