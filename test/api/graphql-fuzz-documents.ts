// Random GraphQL documents for the fuzzer (graphql-fuzz.int.spec.ts): for one root field of the schema, a
// well-shaped operation with random arguments (as variables or literals, hostile values among them) and a
// random selection, and mutated copies of such documents. Deterministic for a seed.
import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  isUnionType,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLOutputType,
  type GraphQLSchema,
} from 'graphql';
import { seededRandom } from '../support/seeded-random.ts';

/** Seeded picks (test/support/seeded-random.ts): the same sequence for the same seed on every machine. */
export class Random {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = seededRandom(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** Ids that exist (so that some calls get past "not found"), filled in by the spec after seeding. */
export interface KnownIds {
  ids: string[];
  logins: string[];
}

const hostileStrings = [
  '',
  ' ',
  'Ann',
  'nul\u0000inside',
  '\u0000',
  'lone \ud800 high surrogate',
  'lone \udfff low surrogate',
  '\udfff\ud800',
  'emoji 😀 and e\u0301',
  '\u202eright to left',
  '\ufeffbom',
  '%s%n%x',
  '{data.x}{{y}}${z}',
  '<script>alert(1)</script>',
  '../../etc/passwd',
  '\\',
  '"',
  "'",
  'null',
  '-1',
  '1e400',
  'a\r\nInjected: header',
  'sip:ann@127.0.0.1',
  '+8613800000000',
  '2026-12-04T10:00:00Z',
  'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
  'YWZ0ZXI6MTA=',
];

const dateTimes: unknown[] = [
  '2026-12-04T10:00:00Z',
  '2026-12-04T10:00:00.123+08:00',
  '1970-01-01T00:00:00Z',
  '0000-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999Z',
  '10000-01-01T00:00:00Z',
  '+010000-01-01T00:00:00.000Z',
  '+275760-09-13T00:00:00.000Z',
  '+275760-09-13T00:00:00.001Z',
  '-271821-04-20T00:00:00.000Z',
  '2024-02-30T00:00:00Z',
  '2024-13-01T00:00:00Z',
  'yesterday',
  '',
  '2024-01-01',
  '12:00',
  1_700_000_000_000,
  8.64e15 + 1,
  -1,
];

/** Ordinary values, so that many calls get past validation into the resolvers and the stores. */
const plainStrings = ['Ann', 'Sales', 'hello', 'Lunch', 'ann', 'a@example.com', '+8613800000000', '1001', 'Welcome to Kefu', 'https://example.com/hook', '中文客服'];
const plainDateTimes = ['2026-12-04T10:00:00Z', '2026-12-05T00:00:00.000Z', '2027-01-01T00:00:00Z', '2026-01-01T00:00:00+08:00'];

const ints: unknown[] = [0, 1, -1, 2, 3, 10, 50, 199, 200, 201, 2_147_483_647, -2_147_483_648, 2_147_483_648, 1e15, -1e15, Number.MAX_SAFE_INTEGER + 2, 0.5];
const floats: unknown[] = [0, -0, 1.5, -1.5, 1e308, -1e308, 5e-324, 2_147_483_648, 0.1];

function hugeString(random: Random): string {
  return random.pick(['x', 'é', '😀', '\u0000']).repeat(random.pick([256, 1000, 10_000, 100_000]));
}

function randomUuid(random: Random): string {
  const hex = () => random.int(16).toString(16);
  return `${Array.from({ length: 8 }, hex).join('')}-${Array.from({ length: 4 }, hex).join('')}-4${Array.from({ length: 3 }, hex).join('')}-a${Array.from({ length: 3 }, hex).join('')}-${Array.from({ length: 12 }, hex).join('')}`;
}

/** A value of the wrong kind for whatever type is expected. */
function wrongValue(random: Random): unknown {
  return random.pick<() => unknown>([
    () => null,
    () => 42,
    () => 'not the right type',
    () => true,
    () => [1, 'two', null],
    () => ({ unexpected: 'field' }),
    () => deepList(random.pick([50, 500, 1500])),
    () => deepObject(random.pick([50, 500, 1500])),
  ])();
}

function deepList(depth: number): unknown {
  let v: unknown = 'bottom';
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

function deepObject(depth: number): unknown {
  let v: unknown = 'bottom';
  for (let i = 0; i < depth; i++) v = { value: v };
  return v;
}

export class DocumentGenerator {
  private readonly schema: GraphQLSchema;
  private readonly random: Random;
  private readonly known: KnownIds;
  /**
   * How often a value is hostile rather than ordinary, per document: with few hostile values a call gets
   * past the first refusal into the resolver and the stores, with one bad value among good ones.
   */
  private hostility = 0.5;

  constructor(schema: GraphQLSchema, random: Random, known: KnownIds) {
    this.schema = schema;
    this.random = random;
    this.known = known;
  }

  private scalar(name: string): unknown {
    const r = this.random;
    if (!r.chance(this.hostility)) {
      // An ordinary value of the type.
      if (name === 'Int') return r.int(20);
      if (name === 'Float') return r.int(100) / 10;
      if (name === 'Boolean') return r.chance(0.5);
      if (name === 'ID') return this.known.ids.length > 0 && r.chance(0.8) ? r.pick(this.known.ids) : randomUuid(r);
      if (name === 'DateTime') return r.pick(plainDateTimes);
      if (name === 'JSON') return { note: r.pick(plainStrings) };
      return r.chance(0.2) && this.known.logins.length > 0 ? r.pick(this.known.logins) : r.pick(plainStrings);
    }
    switch (name) {
      case 'Int':
        return r.chance(0.5) ? r.int(20) : r.pick(ints);
      case 'Float':
        return r.pick(floats);
      case 'Boolean':
        return r.chance(0.5);
      case 'ID':
        return r.chance(0.6) && this.known.ids.length > 0 ? r.pick(this.known.ids) : r.chance(0.5) ? randomUuid(r) : r.chance(0.7) ? r.pick(hostileStrings) : hugeString(r);
      case 'DateTime':
        return r.chance(0.5) ? r.pick(plainDateTimes) : r.pick(dateTimes);
      case 'JSON':
        return r.pick<() => unknown>([() => ({ a: 1, b: ['x'] }), () => 'text', () => 12, () => deepObject(r.pick([10, 200, 1500])), () => deepList(r.pick([10, 1500])), () => ({ 'nul\u0000key': '\ud800' })])();
      default:
        if (r.chance(0.1) && this.known.logins.length > 0) return r.pick(this.known.logins);
        if (r.chance(0.5)) return r.pick(plainStrings);
        return r.chance(0.08) ? hugeString(r) : r.pick(hostileStrings);
    }
  }

  /** A value for an input type: mostly of the right shape, sometimes wrong, missing or hostile. */
  value(type: GraphQLInputType, depth = 0): unknown {
    const r = this.random;
    if (r.chance(0.04 * this.hostility)) return wrongValue(r);
    if (isNonNullType(type)) return this.value(type.ofType, depth);
    if (r.chance(0.06 * this.hostility)) return null;
    if (isListType(type)) {
      const length = r.chance(0.06 * this.hostility) ? r.pick([200, 2000]) : r.int(4);
      return Array.from({ length }, () => this.value(type.ofType, depth + 1));
    }
    if (isEnumType(type)) return !r.chance(0.06 * this.hostility) ? r.pick(type.getValues()).name : r.pick(['NOT_A_VALUE', 'available', '']);
    if (isScalarType(type)) return this.scalar(type.name);
    if (isInputObjectType(type)) {
      const out: Record<string, unknown> = {};
      if (depth > 4) return out;
      for (const field of Object.values(type.getFields())) {
        const required = isNonNullType(field.type) && field.defaultValue === undefined;
        if (required ? r.chance(0.97) : r.chance(0.5)) out[field.name] = this.value(field.type, depth + 1);
      }
      if (r.chance(0.06 * this.hostility)) out.notAField = 'x';
      return out;
    }
    return null;
  }

  /** A GraphQL literal for a value, printed for its type (enum values bare). */
  literal(value: unknown, type: GraphQLInputType | undefined): string {
    const named = type ? getNamedType(type) : undefined;
    const inner = type && isNonNullType(type) ? type.ofType : type;
    if (value === null || value === undefined) return 'null';
    if (Array.isArray(value)) return `[${value.map((v) => this.literal(v, inner && isListType(inner) ? inner.ofType : undefined)).join(', ')}]`;
    if (typeof value === 'object') {
      const fields = named && isInputObjectType(named) ? named.getFields() : {};
      return `{ ${Object.entries(value as Record<string, unknown>)
        .map(([k, v]) => `${/^[_A-Za-z][_0-9A-Za-z]*$/.test(k) ? k : 'bad_key'}: ${this.literal(v, fields[k]?.type)}`)
        .join(', ')} }`;
    }
    if (typeof value === 'string' && named && isEnumType(named) && /^[_A-Za-z][_0-9A-Za-z]*$/.test(value)) return value;
    if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '0';
    return JSON.stringify(value);
  }

  private args(args: readonly GraphQLArgument[]): string {
    const chosen = args.filter((a) => (isNonNullType(a.type) ? this.random.chance(0.97) : this.random.chance(0.5)));
    if (chosen.length === 0) return '';
    return `(${chosen.map((a) => `${a.name}: ${this.literal(this.value(a.type), a.type)}`).join(', ')})`;
  }

  /** A selection set for an output type, `depth` levels at most (leaves and `__typename` when it runs out). */
  selection(type: GraphQLOutputType, depth: number): string {
    const named: GraphQLNamedType = getNamedType(type);
    if (isLeafType(named)) return '';
    if (isUnionType(named)) {
      const parts = named.getTypes().filter(() => this.random.chance(0.7)).map((t) => `... on ${t.name} ${this.selection(t, depth - 1)}`);
      return `{ __typename ${parts.join(' ')} }`;
    }
    if (!isObjectType(named) && !isInterfaceType(named)) return '';
    const fields = Object.values(named.getFields());
    const leaves = fields.filter((f) => isLeafType(getNamedType(f.type)));
    const picked = new Set<GraphQLField<unknown, unknown>>();
    const count = 1 + this.random.int(Math.min(5, fields.length));
    for (let i = 0; i < count; i++) {
      const f = this.random.pick(fields);
      if (isLeafType(getNamedType(f.type)) || depth > 1) picked.add(f);
    }
    if (picked.size === 0 && leaves.length > 0) picked.add(this.random.pick(leaves));
    const parts = [...picked].map((f) => {
      const alias = this.random.chance(0.05) ? `alias${this.random.int(100)}: ` : '';
      return `${alias}${f.name}${this.args(f.args)} ${this.selection(f.type, depth - 1)}`;
    });
    if (parts.length === 0) parts.push('__typename');
    return `{ ${parts.join(' ')} }`;
  }

  /** A well-shaped operation calling `field` of the root type `kind`, with its variables. */
  operation(kind: 'query' | 'mutation' | 'subscription', field: GraphQLField<unknown, unknown>): { query: string; variables: Record<string, unknown> } {
    this.hostility = this.random.pick([0, 0.05, 0.2, 0.5, 1]);
    const variables: Record<string, unknown> = {};
    const declarations: string[] = [];
    const args: string[] = [];
    for (const arg of field.args) {
      const required = isNonNullType(arg.type);
      if (!(required ? this.random.chance(0.97) : this.random.chance(0.5))) continue;
      const value = this.value(arg.type);
      if (this.random.chance(0.75)) {
        declarations.push(`$${arg.name}: ${arg.type.toString()}`);
        args.push(`${arg.name}: $${arg.name}`);
        if (!(value === null && this.random.chance(0.5))) variables[arg.name] = value;
      } else {
        args.push(`${arg.name}: ${this.literal(value, arg.type)}`);
      }
    }
    const name = this.random.chance(0.3) ? ` Fuzz${this.random.int(1000)}` : '';
    const header = declarations.length > 0 || name ? `${kind}${name}${declarations.length > 0 ? `(${declarations.join(', ')})` : ''}` : kind;
    const query = `${header} { ${field.name}${args.length > 0 ? `(${args.join(', ')})` : ''} ${this.selection(field.type, 3)} }`;
    return { query, variables };
  }

  /** A copy of a document with a random edit: most are syntax or validation errors, some still valid. */
  mutate(query: string): string {
    const r = this.random;
    const at = r.int(query.length + 1);
    const tokens = ['{', '}', '(', ')', '$', '...', '@include(if: true)', '@skip(if: $x)', ':', '!', '"', '"""', '#', '\u0000', '\ud800', 'fragment F on Query { __typename }', '...F', 'query', 'mutation', '__schema { types { name } }', '__typename', ',', '[', ']', '='];
    switch (r.int(7)) {
      case 0:
        return query.slice(0, at) + query.slice(at + 1 + r.int(10));
      case 1:
        return query.slice(0, at) + r.pick(tokens) + query.slice(at);
      case 2: {
        const from = r.int(query.length);
        return query.slice(0, at) + query.slice(from, from + r.int(40)) + query.slice(at);
      }
      case 3:
        return query.slice(0, at);
      case 4: {
        // Another field of the schema where one was.
        const names = Object.keys(this.schema.getQueryType()!.getFields());
        return query.replace(/[a-z][A-Za-z]+/g, (m) => (r.chance(0.2) ? r.pick(names) : m));
      }
      case 5:
        return `${query} ${query}`;
      default:
        return `{ ${'{'.repeat(r.pick([1, 10, 100]))} ${query}`;
    }
  }
}
