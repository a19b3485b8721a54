import { readFileSync } from 'node:fs';
import { buildSchema, parse, validate, type DocumentNode } from 'graphql';
import { describe, expect, it } from 'vitest';

// The README's GraphQL examples are what a new user copies first: each operation in a ```graphql block must
// parse and validate against schema.graphql. Placeholders are written as strings ("..." or "<...>"); an enum
// or number placeholder would be a real error, so only string placeholders are allowed.
const root = new URL('../../', import.meta.url);
const schema = buildSchema(readFileSync(new URL('schema.graphql', root), 'utf8'));
const readme = readFileSync(new URL('README.md', root), 'utf8');

interface Example {
  line: number;
  text: string;
}

/** The ```graphql blocks, each split at its top-level operations (a block may hold several, one after another). */
function examples(markdown: string): Example[] {
  const out: Example[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```graphql') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end]!.trim() !== '```') end++;
    let current: Example | undefined;
    let depth = 0;
    for (let j = start; j < end; j++) {
      const line = lines[j]!;
      const bare = line.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/#.*$/, '');
      if (depth === 0 && /^\s*(query|mutation|subscription|\{|fragment)\b|^\s*\{/.test(bare)) {
        current = { line: j + 1, text: '' };
        out.push(current);
      }
      if (current) current.text += line + '\n';
      for (const ch of bare) {
        if (ch === '{') depth++;
        else if (ch === '}') depth--;
      }
    }
    i = end;
  }
  return out;
}

describe('README GraphQL examples', () => {
  const all = examples(readme);

  it('finds the examples', () => {
    expect(all.length).toBeGreaterThan(10);
  });

  it('would catch a wrong example', () => {
    const bad = examples('text\n```graphql\nquery { me { id } }\nmutation { noSuchMutation(x: 1) { id } }\n```\n');
    expect(bad).toHaveLength(2);
    expect(validate(schema, parse(bad[1]!.text)).length).toBeGreaterThan(0);
  });

  it.each(all.map((e) => [e.line, e.text] as const))('example at README line %i validates', (_line, text) => {
    let doc: DocumentNode;
    try {
      doc = parse(text);
    } catch (error) {
      throw new Error(`does not parse: ${(error as Error).message}\n${text}`, { cause: error });
    }
    const errors = validate(schema, doc).map((e) => e.message);
    expect(errors, text).toEqual([]);
  });
});
