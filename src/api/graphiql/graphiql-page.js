// Kefu's GraphiQL page: queries and mutations over HTTP to this Kefu's /graphql, subscriptions over graphql-ws
// (the graphql-transport-ws protocol) on the same path. A token goes in the Headers tab as
// {"Authorization": "Bearer <token>"}; GraphiQL keeps the headers in this browser's localStorage and sends them
// as HTTP headers, and as the connection_init payload of each subscription's WebSocket (Kefu reads
// `Authorization` there). The graphql-ws client is the one inside graphiql.min.js (GraphiQL bundles it), so
// nothing more is loaded and nothing leaves this Kefu.
/* global React, ReactDOM, GraphiQL, document, location */
const fetcher = GraphiQL.createFetcher({
  url: `${location.origin}/graphql`,
  subscriptionUrl: `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/graphql`,
});

const defaultQuery = `# Kefu's GraphQL API. Put your token in Headers below:
#   { "Authorization": "Bearer <operator token, API key or agent token>" }
# Then run a query with the ▶ button (Ctrl-Enter). Subscriptions work too, for example
#   subscription { agentStatusChanged { agent { name } presence } }
# (the current state first, then each change, until you press ■).

query Me {
  me {
    __typename
  }
}
`;

ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultQuery,
    defaultHeaders: JSON.stringify({ Authorization: 'Bearer ' }, null, 2),
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true,
  }),
);
