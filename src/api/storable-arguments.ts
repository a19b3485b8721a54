// Every argument of every root field (queries, mutations, subscriptions) is checked before its resolver
// runs: text the stores cannot hold (NUL, unpaired surrogates), dates outside their range or values nested
// too deep are BAD_USER_INPUT naming the field, whatever the field is and whether or not its resolver's zod
// schema thought of it. Filters and cursors reach SQL too, so this covers queries as well as mutations.
import { ValidationError } from '../domain/errors.ts';
import { findUnstorableValue, maxValueDepth, pathToField } from '../domain/values.ts';

type Resolver = (root: unknown, args: Record<string, unknown>, ...rest: unknown[]) => unknown;

/** Arguments nest a few levels above the JSON values in them (input → definition → …). */
const maxArgumentDepth = maxValueDepth + 8;

export function checkStorableArguments(args: Record<string, unknown> | undefined): void {
  // Dates arrive as Date objects (the DateTime scalar); a string argument is text, whatever it looks like.
  const bad = args ? findUnstorableValue(args, { maxDepth: maxArgumentDepth, timestamps: false }) : null;
  if (bad) throw new ValidationError(pathToField(bad.path), bad.problem);
}

function guarded(resolve: Resolver): Resolver {
  return (root, args, ...rest) => {
    checkStorableArguments(args);
    return resolve(root, args, ...rest);
  };
}

/** The resolvers with every Query, Mutation and Subscription field guarded. */
export function withStorableArguments(resolvers: Record<string, object>): Record<string, object> {
  const out: Record<string, object> = { ...resolvers };
  for (const type of ['Query', 'Mutation', 'Subscription']) {
    const fields = resolvers[type] as Record<string, unknown> | undefined;
    if (!fields) continue;
    const wrapped: Record<string, unknown> = {};
    for (const [name, field] of Object.entries(fields)) {
      if (typeof field === 'function') wrapped[name] = guarded(field as Resolver);
      else if (field && typeof field === 'object' && typeof (field as { subscribe?: unknown }).subscribe === 'function') {
        wrapped[name] = { ...field, subscribe: guarded((field as { subscribe: Resolver }).subscribe) };
      } else wrapped[name] = field;
    }
    out[type] = wrapped;
  }
  return out;
}
