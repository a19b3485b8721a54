// Typed clients (issue 16): graphql-codegen (codegen.ts, client-preset) generates the example client's types
// from the live schema.graphql, and tsc type-checks the client against them, so a schema change that breaks
// a client fails CI. Works in a fresh directory each time (the committed example has no generated files).
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { generate } from '@graphql-codegen/cli';
import { parse, print, visit } from 'graphql';
import { afterAll, describe, expect, it } from 'vitest';
import config from '../../codegen.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const example = path.join(root, 'examples/typed-client');
// Under node_modules so the check resolves @types/node and @graphql-typed-document-node like the example.
const workRoot = path.join(root, 'node_modules/.cache/kefu-typed-client');

/** Codegen with `schemaText` for the example's operations, then tsc on the example: tsc's output, or '' when clean. */
async function generateAndCheck(schemaText: string): Promise<{ codegenError: string | null; tscOutput: string }> {
  mkdirSync(workRoot, { recursive: true });
  const dir = mkdtempSync(path.join(workRoot, 'check-'));
  mkdirSync(path.join(dir, 'src'));
  copyFileSync(path.join(example, 'src/agent-client.ts'), path.join(dir, 'src/agent-client.ts'));
  writeFileSync(path.join(dir, 'schema.graphql'), schemaText);
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ extends: path.join(root, 'tsconfig.json'), compilerOptions: { rootDir: 'src' }, include: ['src'] }));
  const [, output] = Object.entries(config.generates)[0]!;
  try {
    await generate(
      {
        ...config,
        cwd: dir,
        silent: true,
        schema: path.join(dir, 'schema.graphql'),
        documents: [path.join(dir, 'src/**/*.ts'), `!${path.join(dir, 'src/gql/**')}`],
        generates: { [path.join(dir, 'src/gql/')]: output },
      },
      true,
    );
  } catch (err) {
    return { codegenError: err instanceof Error ? err.message : String(err), tscOutput: '' };
  }
  const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
  const r = await run(process.execPath, [tsc, '--noEmit', '-p', path.join(dir, 'tsconfig.json')], { cwd: dir }).then(
    () => ({ out: '' }),
    (e: { stdout: string }) => ({ out: e.stdout }),
  );
  rmSync(dir, { recursive: true, force: true });
  return { codegenError: null, tscOutput: r.out };
}

describe('the typed example client', () => {
  afterAll(() => rmSync(workRoot, { recursive: true, force: true }));
  const schema = readFileSync(path.join(root, 'schema.graphql'), 'utf8');

  it('compiles against types generated from the live schema', async () => {
    const r = await generateAndCheck(schema);
    expect(r.codegenError).toBeNull();
    expect(r.tscOutput).toBe('');
  });

  it('fails when the schema drops a field the client selects', async () => {
    const broken = print(
      visit(parse(schema), {
        ObjectTypeDefinition: (node) => (node.name.value === 'Agent' ? { ...node, fields: node.fields?.filter((f) => f.name.value !== 'breakReason') } : undefined),
      }),
    );
    expect(broken).not.toContain('breakReason: String');
    const r = await generateAndCheck(broken);
    expect(r.codegenError).toMatch(/breakReason/);
  });

  it('fails when a type the client relies on changes (an enum value renamed)', async () => {
    const broken = schema.replace(/enum PresenceChoice \{\n\s+AVAILABLE\n/, 'enum PresenceChoice {\n  READY\n');
    expect(broken).not.toBe(schema);
    const r = await generateAndCheck(broken);
    expect(r.codegenError).toBeNull();
    expect(r.tscOutput).toMatch(/agent-client\.ts\(\d+,\d+\): error TS2322: Type '"AVAILABLE"' is not assignable to type 'PresenceChoice'/);
  });
});
