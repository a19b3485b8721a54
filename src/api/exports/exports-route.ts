// GET /exports/<name>.csv: streamed CSV exports for spreadsheets (issue 15, RP-2).
//
//   /exports/call-records.csv   callRecords' rows, newest first, with callRecords' filter
//   /exports/chat-records.csv   chatRecords' rows, newest first, with chatRecords' filter
//
// Filters are query parameters named as the GraphQL filter's fields and checked by the same zod definition
// (from=2026-12-01T00:00:00Z&to=…&skillGroupId=…&rated=true&satisfaction=5); `timeZone` (IANA, default UTC)
// is the zone the times are written in, with their offset. A parameter that is not a filter of the export,
// or given twice, is refused (a misspelt filter must not quietly export everything).
//
// Authentication is the API's: `Authorization: Bearer <token>` (agent token or API key), or, for a link the
// browser follows, `?access_token=<token>` (the header wins; the answer then says no-store and
// no-referrer). Visibility is the queries': an agent gets only their own records (calls they had a leg of,
// chats they served); supervisors, admins and API keys every record of their instance; the operator and
// chat customers none. The instance is the credential's, never a parameter.
//
// Answers: 200 text/csv (UTF-8 with BOM, CRLF, formula cells escaped; see csv-export.ts), streamed.
//   400 { error: { code: 'BAD_USER_INPUT', field, message } } for a bad filter, 401 UNAUTHENTICATED, 403
//   FORBIDDEN. A failure after the first row was sent ends the download without its last chunk: a client
//   sees a broken transfer, never a short file that looks whole.
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { DomainError, ForbiddenError, ValidationError } from '../../domain/errors.ts';
import { isTimeZone } from '../../domain/flow/flow-document.ts';
import { dateTimeText } from '../../domain/values.ts';
import { listCallRecords } from '../../projections/call-records/call-records.queries.ts';
import type { CallRecordRow } from '../../projections/call-records/call-records.projection.ts';
import { listChatRecords } from '../../projections/chat-records/chat-records.queries.ts';
import type { ChatRecordRow } from '../../projections/chat-records/chat-records.projection.ts';
import type { ReadModel } from '../../projections/projection.ts';
import { requireInstance, type InstancePrincipal } from '../auth.ts';
import type { ApiDeps } from '../context.ts';
import { parseInput } from '../input.ts';
import { callRecordFilter, callRecordsLimitedTo } from '../resolvers/call-records.ts';
import { chatRecordFilter, chatRecordsLimitedTo } from '../resolvers/chat-records.ts';
import { csvStream, exportPageSize, keysetRows, timeIn, type CsvColumn } from './csv-export.ts';
import { callRecordColumns, chatRecordColumns, loadCallRecordNames, loadChatRecordNames, RecordNames } from './record-exports.ts';

type ErrorCode = 'UNAUTHENTICATED' | 'FORBIDDEN' | 'BAD_USER_INPUT' | 'NOT_FOUND' | 'CONFLICT' | 'RATE_LIMITED' | 'INTERNAL_SERVER_ERROR';

function fail(reply: FastifyReply, status: number, code: ErrorCode, message: string, field?: string) {
  return reply
    .code(status)
    .header('content-type', 'application/json; charset=utf-8')
    .send({ error: { code, message, ...(field ? { field } : {}) } });
}

const statusOf: Record<DomainError['code'], number> = { BAD_USER_INPUT: 400, UNAUTHENTICATED: 401, FORBIDDEN: 403, NOT_FOUND: 404, CONFLICT: 409, RATE_LIMITED: 429 };

/** Parameters every export takes besides its filter. */
const commonParameters = ['timeZone', 'access_token'] as const;

type FilterObject = z.ZodObject<Record<string, z.ZodType>>;

/** The innermost type of an optional / nullable field. */
function innerType(t: z.ZodType): z.ZodType {
  let inner = t;
  while (inner instanceof z.ZodOptional || inner instanceof z.ZodNullable) inner = inner.unwrap() as z.ZodType;
  return inner;
}

/**
 * A GraphQL filter definition applied to query parameters: each value is read as the field's GraphQL type
 * would be (booleans true/false, whole numbers, RFC 3339 DateTimes, the rest as text), then the filter's own
 * zod definition checks it, so the export accepts exactly what the query does.
 */
export function filterFromQuery<S extends FilterObject>(filter: S, query: Record<string, unknown>): z.infer<S> {
  const shape = filter.shape;
  const values: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(query)) {
    if ((commonParameters as readonly string[]).includes(key)) continue;
    const field = shape[key];
    if (!field) throw new ValidationError(key, `not a filter of this export; filters: ${[...Object.keys(shape), ...commonParameters].join(', ')}`);
    if (typeof raw !== 'string') throw new ValidationError(key, 'give each filter once');
    const type = innerType(field);
    if (type instanceof z.ZodBoolean) values[key] = raw === 'true' ? true : raw === 'false' ? false : raw;
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

/** One CSV export: its filter, how it reads a page for a principal, and its columns. */
export interface CsvExport<F, R, P> {
  /** The file name without .csv (also the route: /exports/<name>.csv). */
  name: string;
  filter: FilterObject;
  /** Refuses principals that may not export this (throws ForbiddenError); the instance principal otherwise. */
  allow?: (p: InstancePrincipal) => void;
  page: (db: ReadModel, p: InstancePrincipal, filter: F, after: P | null, first: number) => Promise<R[]>;
  position: (row: R) => P;
  columns: (time: (at: Date | string | null) => string | null, names: RecordNames) => CsvColumn<R>[];
  prepare?: (names: RecordNames, rows: R[]) => Promise<void>;
  /** What the filename says of the filter (its interval). */
  describe?: (filter: F) => string;
}

type Position = [string, string];

const interval = (f: { from?: Date | null; to?: Date | null }) =>
  f.from || f.to ? `_${f.from ? f.from.toISOString().slice(0, 10) : 'start'}_${f.to ? f.to.toISOString().slice(0, 10) : 'now'}` : '';

export const callRecordsExport: CsvExport<z.infer<typeof callRecordFilter>, CallRecordRow, Position> = {
  name: 'call-records',
  filter: callRecordFilter as unknown as FilterObject,
  page: (db, p, filter, after, first) => listCallRecords(db, p.instanceId, { first, after, filter, onlyAgentId: callRecordsLimitedTo(p) }),
  position: (r) => [new Date(r.started_at).toISOString(), r.contact_id],
  columns: callRecordColumns,
  prepare: loadCallRecordNames,
  describe: interval,
};

export const chatRecordsExport: CsvExport<z.infer<typeof chatRecordFilter>, ChatRecordRow, Position> = {
  name: 'chat-records',
  filter: chatRecordFilter as unknown as FilterObject,
  page: (db, p, filter, after, first) => listChatRecords(db, p.instanceId, { first, after, filter, onlyAgentId: chatRecordsLimitedTo(p) }),
  position: (r) => [new Date(r.created_at).toISOString(), r.contact_id],
  columns: chatRecordColumns,
  prepare: loadChatRecordNames,
  describe: interval,
};

export interface ExportsRouteOptions {
  deps: ApiDeps;
  /** More exports (reports); each is served at /exports/<name>.csv. */
  exports?: CsvExport<never, unknown, unknown>[];
  /** Rows per read-model query (tests make it small to cross many pages). */
  pageSize?: number;
}

export async function exportsRoute(app: FastifyInstance, options: ExportsRouteOptions): Promise<void> {
  const { deps } = options;
  const pageSize = options.pageSize ?? exportPageSize;

  // Encapsulated plugin: the hook and the error handler apply to the export routes only.
  app.addHook('onRequest', async (request, reply) => {
    const fromQuery = new URL(request.url, 'http://kefu.invalid').searchParams.get('access_token');
    const header = request.headers.authorization ?? (fromQuery ? `Bearer ${fromQuery}` : undefined);
    try {
      request.principal = await deps.auth.authenticate(header);
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      return fail(reply.header('www-authenticate', 'Bearer'), 401, 'UNAUTHENTICATED', err.message);
    }
    if (!request.principal) {
      return fail(reply.header('www-authenticate', 'Bearer'), 401, 'UNAUTHENTICATED', 'Sign in: send "Authorization: Bearer <token>" or ?access_token=<token>');
    }
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof DomainError) return fail(reply, statusOf[err.code], err.code, err.message, err instanceof ValidationError ? err.field : undefined);
    if (err.statusCode && err.statusCode < 500) return fail(reply, err.statusCode, 'BAD_USER_INPUT', err.message);
    request.log.error({ err }, 'CSV export failed');
    return fail(reply, 500, 'INTERNAL_SERVER_ERROR', 'Internal server error');
  });

  const all = [callRecordsExport, chatRecordsExport, ...(options.exports ?? [])] as unknown as CsvExport<unknown, unknown, unknown>[];
  for (const e of all) {
    app.get(`/exports/${e.name}.csv`, async (request, reply) => {
      let p: InstancePrincipal;
      try {
        p = requireInstance(request.principal);
      } catch (err) {
        if (err instanceof ForbiddenError) throw new ForbiddenError(`${err.message}; exports are for an instance's staff and API keys`);
        throw err;
      }
      e.allow?.(p);
      const query = (request.query ?? {}) as Record<string, unknown>;
      const timeZone = exportTimeZone(query);
      const filter = filterFromQuery(e.filter, query);
      const page = (after: unknown, first: number) => e.page(deps.db, p, filter, after, first);
      // The first page before the answer starts: a failing query is still a clean 500.
      const firstPage = await page(null, pageSize);
      const names = new RecordNames(deps.db, p.instanceId);
      const body = csvStream(keysetRows({ page, position: e.position, pageSize, firstPage }), e.columns(timeIn(timeZone), names), e.prepare ? (rows) => e.prepare!(names, rows) : undefined);
      body.on('error', (err) => request.log.error({ err, export: e.name }, 'CSV export broke off'));
      const file = `${e.name}${e.describe?.(filter) ?? ''}.csv`;
      return reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="${file}"`)
        .header('cache-control', 'private, no-store')
        .header('referrer-policy', 'no-referrer')
        .header('x-content-type-options', 'nosniff')
        .header('x-kefu-time-zone', timeZone)
        .send(body);
    });
  }
}
