// The query limits rule on its own: what it counts, and that measuring a hostile document stays cheap.
import { readFileSync } from 'node:fs';
import { buildSchema, parse, specifiedRules, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { defaultQueryLimits, queryLimitsRule } from '../../src/api/query-limits.ts';

const schema = buildSchema(readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8'));
const rule = queryLimitsRule(defaultQueryLimits);
const refusals = (query: string) =>
  validate(schema, parse(query), [rule]).map((e) => ({ limit: e.extensions.limit, code: e.extensions.code, message: e.message }));

describe('queryLimitsRule', () => {
  it('counts a list at its page size: a literal first, the default, or the largest page for a variable', () => {
    const cost = (query: string) => Number(validate(schema, parse(query), [queryLimitsRule({ ...defaultQueryLimits, maxCost: 1 })])[0]?.message.match(/up to (\d+) fields/)?.[1]);
    expect(cost('{ agents(first: 10) { edges { node { id name } } } }')).toBe(1 + 10 * (1 + 1 + 2));
    expect(cost('{ agents { edges { node { id } } } }')).toBe(1 + 50 * 3);
    expect(cost('query($n: Int) { agents(first: $n) { edges { node { id } } } }')).toBe(1 + 200 * 3);
    expect(cost('{ skillGroups { id name } }')).toBe(1 + 10 * 2);
  });

  it('measures a fragment once however often it is spread (a "fragment bomb" stays cheap)', () => {
    // Ten levels of fragments, each spreading the next ten times: 10^10 fields if expanded.
    const levels = Array.from({ length: 10 }, (_, i) => `fragment F${i} on Query { ${Array.from({ length: 10 }, () => (i === 9 ? 'breakReasons' : `...F${i + 1}`)).join(' ')} }`);
    const started = performance.now();
    const found = refusals(`{ ...F0 } ${levels.join(' ')}`);
    expect(performance.now() - started).toBeLessThan(500);
    expect(found).toEqual([{ limit: 'cost', code: 'BAD_USER_INPUT', message: expect.stringMatching(/may select up to 1\d{10} fields/) }]);
  });

  it('refuses nesting past the limit without descending further, and survives fragment cycles', () => {
    const deep = `{ ${'... on Query { '.repeat(500)}breakReasons${' }'.repeat(500)} }`;
    expect(refusals(deep)).toEqual([{ limit: 'depth', code: 'BAD_USER_INPUT', message: expect.stringMatching(/more than 15 levels/) }]);
    // Cycles are the spec rules' to report (NoFragmentCycles); this rule must only not loop.
    expect(refusals('{ ...A } fragment A on Query { ...B } fragment B on Query { ...A breakReasons }')).toEqual([]);
    expect(validate(schema, parse('{ ...A } fragment A on Query { ...A }'), [...specifiedRules, rule]).map((e) => e.message)).toContain('Cannot spread fragment "A" within itself.');
  });

  it('counts mutations by the fields that run, through fragments, once per response key', () => {
    // Only this rule runs here: the mutations' arguments do not matter.
    const mutations = (n: number, prefix = 'm') => Array.from({ length: n }, (_, i) => `${prefix}${i}: endWrapUp`).join(' ');
    expect(refusals(`mutation { ${mutations(10)} }`)).toEqual([]);
    expect(refusals(`mutation { ${mutations(11)} }`).map((r) => r.limit)).toEqual(['mutations']);
    expect(refusals(`mutation { ...M ${mutations(6)} } fragment M on Mutation { ${mutations(6, 'f')} }`).map((r) => r.limit)).toEqual(['mutations']);
    // The same response key twice is one resolver call.
    expect(refusals(`mutation { ${Array.from({ length: 20 }, () => 'endWrapUp').join(' ')} }`)).toEqual([]);
    expect(refusals(`mutation { ...M ${mutations(6)} } fragment M on Mutation { ${mutations(6)} }`)).toEqual([]);
  });
});
