// What a CSV export is (issue 15): how it is opened for a caller and their query parameters, and the reading
// of query parameters with the GraphQL filters' own zod definitions. The route is exports-route.ts; the
// exports are the records' (exports-route.ts) and the reports' (report-exports.ts).
import { z } from 'zod';
import { ValidationError } from '../../domain/errors.ts';
import { isTimeZone } from '../../domain/flow/flow-document.ts';
import { dateTimeText } from '../../domain/values.ts';
import type { ReadModel } from '../../projections/projection.ts';
import type { ReportLimits } from '../../projections/reports/report-queries.ts';
import type { InstancePrincipal } from '../auth.ts';
import { parseInput } from '../input.ts';
import type { CsvColumn } from './csv-export.ts';

/** Parameters every export takes besides its filter. */
export const commonParameters = ['timeZone', 'access_token'] as const;

export type FilterObject = z.ZodObject;

/** The innermost type of an optional / nullable field. */
function innerType(t: z.ZodType): z.ZodType {
  let inner = t;
  while (inner instanceof z.ZodOptional || inner instanceof z.ZodNullable) inner = inner.unwrap() as z.ZodType;
  return inner;
}

/**
 * A GraphQL filter definition applied to query parameters: each value is read as the field's GraphQL type
 * would be (booleans true/false, whole numbers, RFC 3339 DateTimes, lists separated by commas, the rest as
 * text), then the filter's own
 * zod definition checks it, so the export accepts exactly what the query does.
 */
export function filterFromQuery<S extends FilterObject>(filter: S, query: Record<string, unknown>): z.infer<S> {
  const shape = filter.shape;
  const values: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(query)) {
    if (!(key in shape) && (commonParameters as readonly string[]).includes(key)) continue;
    const field = shape[key];
    if (!field) throw new ValidationError(key, `not a filter of this export; filters: ${[...Object.keys(shape), ...commonParameters].join(', ')}`);
    if (typeof raw !== 'string') throw new ValidationError(key, 'give each filter once');
    const type = innerType(field);
    if (type instanceof z.ZodArray) values[key] = raw.split(',').map((x) => x.trim()).filter((x) => x !== '');
    else if (type instanceof z.ZodBoolean) values[key] = raw === 'true' ? true : raw === 'false' ? false : raw;
    else if (type instanceof z.ZodNumber) values[key] = /^-?\d{1,15}$/.test(raw) ? Number(raw) : raw;
    else if (type instanceof z.ZodDate) {
      const parsed = dateTimeText.safeParse(raw);
      if (!parsed.success) throw new ValidationError(key, parsed.error.issues[0]!.message);
      values[key] = parsed.data;
    } else values[key] = raw;
  }
  return parseInput(filter, values, '');
}

/** The zone an export writes its times in: `timeZone`, an IANA name; UTC when absent. */
export function exportTimeZone(query: Record<string, unknown>): string {
  const zone = query.timeZone;
  if (zone === undefined) return 'UTC';
  if (typeof zone !== 'string') throw new ValidationError('timeZone', 'give it once');
  if (zone.length > 64 || !isTimeZone(zone)) throw new ValidationError('timeZone', 'not an IANA time zone (e.g. Asia/Shanghai)');
  return zone;
}

/** What an export is opened with: the caller, their query parameters, and the server's settings. */
export interface ExportContext {
  db: ReadModel;
  principal: InstancePrincipal;
  query: Record<string, unknown>;
  pageSize: number;
  reportLimits: ReportLimits;
}

/** An export ready to stream: its rows page by page, its columns, and what the answer says about it. */
export interface OpenedExport<R> {
  pages: AsyncIterable<R[]>;
  columns: CsvColumn<R>[];
  /** Runs before each page's rows are written (names of the page's ids). */
  prepare?: (rows: R[]) => Promise<void>;
  timeZone: string;
  /** The download's file name, without .csv. */
  filename: string;
}

/** One CSV export, served at /exports/<name>.csv: `open` checks the caller and the query (throwing a DomainError). */
export interface CsvExport {
  name: string;
  open(ctx: ExportContext): Promise<OpenedExport<never>>;
}

