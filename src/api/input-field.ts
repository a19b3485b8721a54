// Names the argument field a GraphQL error about a value is about, the way extensions.field names fields
// elsewhere ("input.expiresAt", "filter.from", "input.reasons.1"). graphql-js reports a bad literal by its
// place in the document and a bad variable by the variable's name and a printed path; this finds where the
// value or the variable stands among the arguments.
import { Kind, parse, type ArgumentNode, type GraphQLError, type SelectionSetNode, type ValueNode } from 'graphql';

interface ArgumentPlaces {
  /** Value nodes by their offset in the document. */
  values: Map<number, string[]>;
  /** The first place each variable is used. */
  variables: Map<string, string[]>;
}

function placesIn(source: string): ArgumentPlaces | null {
  let doc;
  try {
    doc = parse(source);
  } catch {
    return null;
  }
  const places: ArgumentPlaces = { values: new Map(), variables: new Map() };
  const walkValue = (value: ValueNode, path: string[]) => {
    if (value.loc && !places.values.has(value.loc.start)) places.values.set(value.loc.start, path);
    if (value.kind === Kind.VARIABLE) {
      if (!places.variables.has(value.name.value)) places.variables.set(value.name.value, path);
    } else if (value.kind === Kind.OBJECT) {
      for (const f of value.fields) walkValue(f.value, [...path, f.name.value]);
    } else if (value.kind === Kind.LIST) {
      value.values.forEach((v, i) => walkValue(v, [...path, String(i)]));
    }
  };
  const walkArguments = (args: readonly ArgumentNode[] | undefined) => {
    for (const a of args ?? []) walkValue(a.value, [a.name.value]);
  };
  const walkSelections = (set: SelectionSetNode | undefined) => {
    for (const s of set?.selections ?? []) {
      if (s.kind === Kind.FIELD) walkArguments(s.arguments);
      if (s.kind !== Kind.FRAGMENT_SPREAD) walkSelections(s.selectionSet);
    }
  };
  for (const d of doc.definitions) {
    if (d.kind === Kind.OPERATION_DEFINITION || d.kind === Kind.FRAGMENT_DEFINITION) walkSelections(d.selectionSet);
  }
  return places;
}

/** graphql-js prints a path inside a variable as `.name` and `[0]`. */
function printedPath(printed: string): string[] {
  return [...printed.matchAll(/\.([_A-Za-z][_0-9A-Za-z]*)|\[(\d+)\]/g)].map((m) => m[1] ?? m[2]!);
}

/** The field a parse or validation error about an argument's value is about, or null. */
export function inputFieldOf(error: GraphQLError, inner: (string | number)[] = []): string | null {
  const source = error.source?.body;
  if (!source) return null;
  const variable = /^Variable "\$([_A-Za-z][_0-9A-Za-z]*)" got invalid value /.exec(error.message);
  let path: string[] | undefined;
  if (variable) {
    const name = variable[1]!;
    const places = placesIn(source);
    const used = places?.variables.get(name);
    if (!used) return null;
    const at = new RegExp(` at "${name}((?:\\.[_A-Za-z][_0-9A-Za-z]*|\\[\\d+\\])*)"; `).exec(error.message);
    path = [...used, ...(at ? printedPath(at[1]!) : [])];
  } else {
    const offset = error.positions?.[0] ?? error.nodes?.[0]?.loc?.start;
    if (offset === undefined) return null;
    path = placesIn(source)?.values.get(offset);
  }
  return path ? [...path, ...inner.map(String)].join('.') : null;
}
