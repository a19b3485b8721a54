// Kefu's GraphiQL page: queries and mutations over HTTP to this Kefu's /graphql. A token goes in the Headers
// tab as {"Authorization": "Bearer <token>"}; GraphiQL keeps the headers in this browser's localStorage.
/* global React, ReactDOM, GraphiQL, document, location */
const fetcher = GraphiQL.createFetcher({ url: `${location.origin}/graphql` });

const defaultQuery = `# Kefu's GraphQL API. Put your token in Headers below:
#   { "Authorization": "Bearer <operator token, API key or agent token>" }
# Then run a query with the ▶ button (Ctrl-Enter).

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
