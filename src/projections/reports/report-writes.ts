// The reports projection's statements (issue 15): a batch's read of its states and its writes, as SQL text
// built once per shape (no query builder on the live path: compiling a 41-column upsert was a good part of
// a small batch's CPU). A live batch of one event reads once and writes at most twice: the states, zones and
// recounts in one SELECT of JSON; the tables' rows in data-modifying CTEs (states and agent time in one
// statement, contact counters in another).
import { CompiledQuery, type Transaction } from 'kysely';
import type { ReadModelDb } from '../read-model-db.ts';
import { contactCounters } from './reports.tables.ts';

type Trx = Transaction<ReadModelDb>;

/** A table's rows of a batch and how they meet the rows there: added to, set, or (no conflict) inserted. */
export interface RowsOf {
  table: keyof ReadModelDb & string;
  rows: object[];
  /** The conflict target; empty: plain inserts (new rows). */
  conflict: readonly string[];
  /** Columns added to (`c = table.c + excluded.c`). */
  add?: readonly string[];
  /** Columns raised to the larger (`greatest`). */
  max?: readonly string[];
  /** Columns replaced. */
  set?: readonly string[];
  /** Counters a row leaves out are 0 (json_populate_recordset's base record), not null. */
  zeros?: boolean;
}

/** The contact counters' zeros, as the base record of rows that name only the counters they add to. */
const zerosJson = JSON.stringify(Object.fromEntries(contactCounters.map((c) => [c, 0])));
/** Rows per JSON parameter, and per statement (several tables' small parts go into one). */
const partRows = 2000;
const statementRows = 4000;

const texts = new Map<string, string>();

/** The upsert of one part (parameter $n), as a statement or a CTE's body. Names are the projection's own (constants). */
function upsertText(w: RowsOf, n: number): string {
  const base = w.zeros ? `json_populate_record(null::${w.table}, '${zerosJson}'::json)` : `null::${w.table}`;
  const insert = `INSERT INTO ${w.table} SELECT * FROM json_populate_recordset(${base}, $${n}::json)`;
  if (w.conflict.length === 0) return insert;
  const set = [
    ...(w.add ?? []).map((c) => `${c} = ${w.table}.${c} + excluded.${c}`),
    ...(w.max ?? []).map((c) => `${c} = greatest(${w.table}.${c}, excluded.${c})`),
    ...(w.set ?? []).map((c) => `${c} = excluded.${c}`),
  ];
  return `${insert} ON CONFLICT (${w.conflict.join(', ')}) DO UPDATE SET ${set.join(', ')}`;
}

/** One statement of `parts` (each table's chunks have distinct keys: no row is met twice). */
function statementText(parts: RowsOf[]): string {
  const key = parts.map((p) => p.table).join(',');
  let text = texts.get(key);
  if (!text) {
    const last = parts.length;
    text = parts.length === 1 ? upsertText(parts[0]!, 1) : `WITH ${parts.slice(0, -1).map((p, i) => `w${i + 1} AS (${upsertText(p, i + 1)})`).join(', ')} ${upsertText(parts[last - 1]!, last)}`;
    texts.set(key, text);
  }
  return text;
}

/**
 * Writes every table's rows: one statement for up to statementRows rows of several tables. The tables of
 * contact counters (zeros) go in statements of their own, after the others: joined with the state upserts
 * in one statement they cost PostgreSQL more than apart (a contact event's batch, 800 alternated at load 2-4:
 * 2.3-2.7 ms of PostgreSQL CPU in one statement, 1.4-1.8 ms in two; the cause not found).
 */
export async function writeRows(trx: Trx, given: RowsOf[]): Promise<void> {
  const writes = [...given.filter((w) => !w.zeros), ...given.filter((w) => w.zeros)];
  let parts: RowsOf[] = [];
  let rows = 0;
  const run = async () => {
    if (parts.length === 0) return;
    await trx.executeQuery(CompiledQuery.raw(statementText(parts), parts.map((p) => JSON.stringify(p.rows))));
    parts = [];
    rows = 0;
  };
  for (const w of writes) {
    for (let i = 0; i < w.rows.length; i += partRows) {
      const part = { ...w, rows: w.rows.slice(i, i + partRows) };
      if (rows > 0 && (rows + part.rows.length > statementRows || !!part.zeros !== !!parts[parts.length - 1]!.zeros)) await run();
      parts.push(part);
      rows += part.rows.length;
    }
  }
  await run();
}

const readText = (zones: boolean) => `
  SELECT
    (SELECT coalesce(json_agg(c), '[]') FROM report_contacts c WHERE c.instance_id = ANY($1::text[]) AND c.contact_id = ANY($2::text[])) AS contacts,
    (SELECT coalesce(json_agg(a), '[]') FROM report_agents a WHERE a.instance_id = ANY($3::text[]) AND a.agent_id = ANY($4::text[])) AS agents${
      zones
        ? `,
    (SELECT coalesce(json_agg(json_build_array(s.instance_id, s.time_zone)), '[]') FROM report_settings s WHERE s.instance_id = ANY($5::text[])) AS zones,
    (SELECT coalesce(json_agg(json_build_array(r.instance_id, r.phase, extract(epoch FROM r.counted_to) * 1000)), '[]')
       FROM (SELECT instance_id, phase, counted_to FROM report_day_recounts WHERE instance_id = ANY($5::text[]) ORDER BY instance_id FOR UPDATE) r) AS recounts`
        : ''
    }`;
const readAll = readText(true);
const readStatesOnly = readText(false);

type Json<T> = T | string;
const parsed = <T>(v: Json<T>): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);

/**
 * The states of `contacts` and `agents` ([instance, id] pairs; rows of other pairs of the same instances and
 * ids may come too: the caller takes its own), and of `instanceIds` their zones (absent: UTC) and recounts under
 * way, those rows locked until the transaction ends (as lockRecounts). Rows come as JSON (one parse, timestamps
 * as ISO strings): pg's per-value parsing of timestamps was a good part of a catch-up's reads.
 */
export async function readStates<C, A>(
  trx: Trx,
  contacts: [string, string][],
  agents: [string, string][],
  instanceIds: string[],
): Promise<{ contacts: C[]; agents: A[]; zones: [string, string][]; recounts: [string, { phase: string; countedTo: Date | null }][] }> {
  if (contacts.length + agents.length + instanceIds.length === 0) return { contacts: [], agents: [], zones: [], recounts: [] };
  const uniq = (xs: string[]) => [...new Set(xs)];
  const params = [uniq(contacts.map((p) => p[0])), uniq(contacts.map((p) => p[1])), uniq(agents.map((p) => p[0])), uniq(agents.map((p) => p[1]))];
  const zones = instanceIds.length > 0;
  const r = await trx.executeQuery<{ contacts: Json<C[]>; agents: Json<A[]>; zones?: Json<[string, string][]>; recounts?: Json<[string, string, number | null][]> }>(
    CompiledQuery.raw(zones ? readAll : readStatesOnly, zones ? [...params, instanceIds] : params),
  );
  const row = r.rows[0]!;
  return {
    contacts: parsed(row.contacts),
    agents: parsed(row.agents),
    zones: row.zones ? parsed(row.zones) : [],
    recounts: (row.recounts ? parsed(row.recounts) : []).map(([id, phase, countedTo]) => [id, { phase, countedTo: countedTo === null ? null : new Date(countedTo) }]),
  };
}
