// The API's own scalars, on the definitions of src/domain/values.ts: a DateTime is an RFC 3339 string within
// what the stores hold, a JSON value holds only what an event can hold. A refused value throws
// ScalarValueError; the error formatter names the field it was given for (src/api/input-field.ts).
import { GraphQLScalarType, Kind, valueFromASTUntyped } from 'graphql';
import { dateTimeText, findUnstorableValue, maxValueDepth } from '../domain/values.ts';

/** A scalar value refused; `path` says where inside the value (JSON), [] for the value itself. */
export class ScalarValueError extends Error {
  override readonly name = 'ScalarValueError';
  readonly problem: string;
  readonly path: (string | number)[];
  constructor(problem: string, path: (string | number)[] = []) {
    super(path.length > 0 ? `${path.join('.')}: ${problem}` : problem);
    this.problem = problem;
    this.path = path;
  }
}

function parseDateTime(v: unknown): Date {
  const r = dateTimeText.safeParse(v);
  if (!r.success) throw new ScalarValueError(r.error.issues[0]!.message);
  return r.data;
}

export const dateTimeScalar = new GraphQLScalarType({
  name: 'DateTime',
  description: 'An ISO 8601 date and time in UTC',
  serialize: (v) => new Date(v as string | Date).toISOString(),
  parseValue: parseDateTime,
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw new ScalarValueError('an ISO 8601 date and time string, like 2026-12-04T10:00:00Z');
    return parseDateTime(ast.value);
  },
});

function storableJson(v: unknown): unknown {
  // Nesting is bounded before anything walks the value recursively (zod, JSON.stringify).
  const bad = findUnstorableValue(v, { maxDepth: maxValueDepth, timestamps: false });
  if (bad) throw new ScalarValueError(bad.problem, bad.path);
  return v;
}

/** Any JSON value that an event can hold (flow documents): storable text, at most maxValueDepth deep. */
export const jsonScalar = new GraphQLScalarType({
  name: 'JSON',
  description: 'Any JSON value',
  serialize: (v) => v,
  parseValue: storableJson,
  parseLiteral: (ast, variables) => storableJson(valueFromASTUntyped(ast, variables)),
});
