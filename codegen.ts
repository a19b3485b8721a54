// graphql-codegen (client-preset): TypeScript types for a client's operations, from Kefu's schema.graphql.
// `npx graphql-codegen` writes examples/typed-client/src/gql/; a client of your own points `documents` at its
// files and `generates` at its own folder. test/typed-client/typed-client.unit.spec.ts runs this against the
// live schema and type-checks the example, so a schema change that breaks clients fails CI.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['examples/typed-client/src/**/*.ts', '!examples/typed-client/src/gql/**'],
  ignoreNoDocuments: false,
  // Runnable by Node's type stripping: relative imports end in .ts.
  importExtension: '.ts',
  generates: {
    'examples/typed-client/src/gql/': {
      preset: 'client',
      // Plain strings (no graphql-js at run time): fetch sends them as they are.
      config: { documentMode: 'string', useTypeImports: true, enumsAsTypes: true, scalars: { DateTime: 'string' } },
      presetConfig: { fragmentMasking: false },
    },
  },
};

export default config;
