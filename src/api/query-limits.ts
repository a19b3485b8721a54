// Bounded work per request: every GraphQL operation is measured before anything runs (over HTTP in
// mercurius' validation step, over graphql-ws in a pre-execution hook) and refused with BAD_USER_INPUT when
// it nests too deep, uses too many aliases, may select too many fields, or runs too many mutations.
//
// One traversal gives all four figures. The cost is a static upper bound that needs no variables: a field
// with a `first` argument counts its page size (a variable counts as the largest page), other lists count
// `assumedListLength`. So a document's verdict does not depend on its variables, and mercurius can keep
// caching validated documents (a rule that reads variables would force its cache off).
import {
  GraphQLError,
  getNamedType,
  getNullableType,
  isInterfaceType,
  isListType,
  isObjectType,
  Kind,
  type ASTVisitor,
  type FieldNode,
  type GraphQLField,
  type GraphQLNamedType,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';

export interface QueryLimits {
  /** Levels of fields nested in one operation (fragments add none). */
  maxDepth: number;
  /** Aliased fields in one operation, counted through its fragments. */
  maxAliases: number;
  /** Fields an operation may select at most, each list counted as the items it may return. */
  maxCost: number;
  /** Mutation fields in one request: each one runs a command. */
  maxMutationFields: number;
  /** Tokens in one document (graphql-js' parser stops there, before building a deep tree). */
  maxTokens: number;
}

/**
 * Depth 15 is what the standard introspection query (GraphiQL's, graphql-js') needs; data queries nest far
 * less, and each nested list multiplies the cost anyway.
 */
export const defaultQueryLimits: QueryLimits = { maxDepth: 15, maxAliases: 30, maxCost: 50_000, maxMutationFields: 10, maxTokens: 5_000 };

/** The largest page any connection returns (the resolvers refuse `first` above it). */
const maxPageSize = 200;
/** What a list without a page size (skill group members, a record's legs) is taken to hold. */
const assumedListLength = 10;

interface Figures {
  depth: number;
  aliases: number;
  cost: number;
}

const none: Figures = { depth: 0, aliases: 0, cost: 0 };

function refusal(message: string, node: OperationDefinitionNode, limit: string, max: number): GraphQLError {
  return new GraphQLError(message, { nodes: node, extensions: { code: 'BAD_USER_INPUT', limit, max } });
}

/** The validation rule that enforces `limits` on every operation of a document. */
export function queryLimitsRule(limits: QueryLimits): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const schema = context.getSchema();
    // A fragment's figures depend on the fragment alone: measured once however often it is spread, so a
    // document that spreads fragments inside fragments cannot multiply the work of measuring it.
    const fragmentFigures = new Map<string, Figures>();
    const measuring = new Set<string>();
    // Past the depth limit the operation is refused anyway: measuring stops there, which also bounds the
    // recursion however deep a document nests.
    let tooDeep = false;

    const fieldOf = (type: GraphQLNamedType | undefined, name: string): GraphQLField<unknown, unknown> | undefined => {
      if (!type || !(isObjectType(type) || isInterfaceType(type))) return undefined;
      return type.getFields()[name];
    };

    /** How many times a field's selections run: its page size, or a guess for other lists. */
    const multiplier = (parent: GraphQLNamedType | undefined, field: GraphQLField<unknown, unknown>, node: FieldNode): number => {
      const pageArgument = field.args.find((a) => a.name === 'first');
      if (pageArgument) {
        const given = node.arguments?.find((a) => a.name.value === 'first')?.value;
        if (given?.kind === Kind.INT) return Math.max(1, Math.min(maxPageSize, Number(given.value)));
        if (given === undefined && typeof pageArgument.defaultValue === 'number') return Math.max(1, Math.min(maxPageSize, pageArgument.defaultValue));
        return maxPageSize;
      }
      if (!isListType(getNullableType(field.type))) return 1;
      // A connection's edges are its page, already counted at the field that took `first`.
      return parent?.name.endsWith('Connection') ? 1 : assumedListLength;
    };

    const measure = (selectionSet: SelectionSetNode, type: GraphQLNamedType | undefined, level: number): Figures => {
      const total = { depth: 0, aliases: 0, cost: 0 };
      if (level > limits.maxDepth) tooDeep = true;
      if (tooDeep) return none;
      for (const selection of selectionSet.selections) {
        let figures: Figures;
        if (selection.kind === Kind.FIELD) {
          if (selection.alias && selection.alias.value !== selection.name.value) total.aliases += 1;
          const field = fieldOf(type, selection.name.value);
          const child = selection.selectionSet ? measure(selection.selectionSet, field ? getNamedType(field.type) : undefined, level + 1) : none;
          const times = field ? multiplier(type, field, selection) : 1;
          figures = { depth: 1 + child.depth, aliases: child.aliases, cost: 1 + times * child.cost };
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          const on = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : type;
          // A level of its own, as mercurius' depth limit counted it before.
          const inner = measure(selection.selectionSet, on ?? undefined, level + 1);
          figures = { ...inner, depth: 1 + inner.depth };
        } else {
          const name = selection.name.value;
          const fragment = context.getFragment(name);
          const known = fragmentFigures.get(name);
          if (known) figures = known;
          else if (!fragment || measuring.has(name)) figures = none; // unknown or cyclic: other rules report it
          else {
            measuring.add(name);
            figures = measure(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value) ?? undefined, level);
            measuring.delete(name);
            fragmentFigures.set(name, figures);
          }
        }
        total.depth = Math.max(total.depth, figures.depth);
        total.aliases += figures.aliases;
        total.cost += figures.cost;
      }
      return total;
    };

    /** Distinct response keys at the root of a mutation: execution runs one resolver for each. */
    const mutationFields = (selectionSet: SelectionSetNode, keys: Set<string>, seen: Set<string>): Set<string> => {
      for (const selection of selectionSet.selections) {
        if (selection.kind === Kind.FIELD) keys.add(selection.alias?.value ?? selection.name.value);
        else if (selection.kind === Kind.INLINE_FRAGMENT) mutationFields(selection.selectionSet, keys, seen);
        else if (!seen.has(selection.name.value)) {
          seen.add(selection.name.value);
          const fragment = context.getFragment(selection.name.value);
          if (fragment) mutationFields(fragment.selectionSet, keys, seen);
        }
      }
      return keys;
    };

    return {
      OperationDefinition(operation) {
        const root = operation.operation === 'query' ? schema.getQueryType() : operation.operation === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
        tooDeep = false;
        const figures = measure(operation.selectionSet, root ?? undefined, 1);
        // A fragment measured elsewhere adds its own depth here without descending again.
        if (tooDeep || figures.depth > limits.maxDepth) {
          fragmentFigures.clear(); // cut short: not what another operation may reuse
          context.reportError(refusal(`The operation nests fields more than ${limits.maxDepth} levels deep; at most ${limits.maxDepth} are allowed`, operation, 'depth', limits.maxDepth));
          return false;
        }
        if (figures.aliases > limits.maxAliases) {
          context.reportError(refusal(`The operation uses ${figures.aliases} aliases; at most ${limits.maxAliases} are allowed`, operation, 'aliases', limits.maxAliases));
        }
        if (operation.operation === 'mutation') {
          const count = mutationFields(operation.selectionSet, new Set(), new Set()).size;
          if (count > limits.maxMutationFields) {
            context.reportError(refusal(`The request runs ${count} mutations; at most ${limits.maxMutationFields} are allowed in one request`, operation, 'mutations', limits.maxMutationFields));
          }
        }
        if (figures.cost > limits.maxCost) {
          context.reportError(
            refusal(
              `The operation may select up to ${figures.cost} fields (each list counted at its page size); at most ${limits.maxCost} are allowed: ask for smaller pages or fewer fields`,
              operation,
              'cost',
              limits.maxCost,
            ),
          );
        }
        return false;
      },
    };
  };
}
