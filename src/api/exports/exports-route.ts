// GET /exports/<name>.csv: streamed CSV exports for spreadsheets (issue 15, RP-2).
//
//   /exports/call-records.csv   callRecords' rows, newest first, with callRecords' filter
//   /exports/chat-records.csv   chatRecords' rows, newest first, with chatRecords' filter
//   /exports/instance-report.csv, skill-group-report.csv, agent-report.csv, overview.csv: the reports
//       (report-exports.ts: the GraphQL reports' parameters and checks)
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
import { Readable } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { DomainError, ForbiddenError, ValidationError } from '../../domain/errors.ts';
import { httpStatusOf } from '../errors.ts';
import { listCallRecordsForExport, type CallRecordExportRow } from '../../projections/call-records/call-records.queries.ts';
import { listChatRecords } from '../../projections/chat-records/chat-records.queries.ts';
import type { ChatRecordRow } from '../../projections/chat-records/chat-records.projection.ts';
import type { ReadModel } from '../../projections/projection.ts';
import { requireInstance, type InstancePrincipal } from '../auth.ts';
import type { ApiDeps } from '../context.ts';
import { callRecordFilter, callRecordsLimitedTo } from '../resolvers/call-records.ts';
import { chatRecordFilter, chatRecordsLimitedTo } from '../resolvers/chat-records.ts';
import { csvStream, exportPageSize, keysetRows, timeIn, type CsvColumn } from './csv-export.ts';
import { exportTimeZone, filterFromQuery, type CsvExport, type FilterObject, type OpenedExport } from './export-definition.ts';
import { reportExports, reportLimitsOf } from './report-exports.ts';
import { callRecordColumns, chatRecordColumns, loadCallRecordNames, loadChatRecordNames, RecordNames } from './record-exports.ts';

type ErrorCode = 'UNAUTHENTICATED' | 'FORBIDDEN' | 'BAD_USER_INPUT' | 'NOT_FOUND' | 'CONFLICT' | 'RATE_LIMITED' | 'READ_MODEL_BEHIND' | 'INTERNAL_SERVER_ERROR';

function fail(reply: FastifyReply, status: number, code: ErrorCode, message: string, field?: string) {
  return reply
    .code(status)
    .header('content-type', 'application/json; charset=utf-8')
    .send({ error: { code, message, ...(field ? { field } : {}) } });
}


/** Query parameters as fastify parses them: a parameter given twice is a list (each export refuses it, naming it). */
const exportParameters = z.record(z.string(), z.union([z.string(), z.array(z.string())]));

type Position = [string, string];

const interval = (f: { from?: Date | null; to?: Date | null }) =>
  f.from || f.to ? `_${f.from ? f.from.toISOString().slice(0, 10) : 'start'}_${f.to ? f.to.toISOString().slice(0, 10) : 'now'}` : '';

/** A records export: the query's filter, the query's page function, newest first by (time, contact id). */
function recordsExport<R, F extends { from?: Date | null; to?: Date | null }>(spec: {
  name: string;
  filter: FilterObject;
  page: (db: ReadModel, p: InstancePrincipal, filter: F, after: Position | null, first: number) => Promise<R[]>;
  position: (row: R) => Position;
  columns: (time: (at: Date | string | null) => string | null, names: RecordNames) => CsvColumn<R>[];
  prepare: (names: RecordNames, rows: R[]) => Promise<void>;
}): CsvExport {
  return {
    name: spec.name,
    async open(ctx) {
      const timeZone = exportTimeZone(ctx.query);
      const filter = filterFromQuery(spec.filter, ctx.query) as F;
      const names = new RecordNames(ctx.db, ctx.principal.instanceId);
      const page = (after: Position | null, first: number) => spec.page(ctx.db, ctx.principal, filter, after, first);
      const opened: OpenedExport<R> = {
        pages: keysetRows({ page, position: spec.position, pageSize: ctx.pageSize }),
        columns: spec.columns(timeIn(timeZone), names),
        prepare: (rows) => spec.prepare(names, rows),
        timeZone,
        filename: `${spec.name}${interval(filter)}`,
      };
      return opened as unknown as OpenedExport<never>;
    },
  };
}

export const callRecordsExport = recordsExport<CallRecordExportRow, z.infer<typeof callRecordFilter>>({
  name: 'call-records',
  filter: callRecordFilter,
  page: (db, p, filter, after, first) => listCallRecordsForExport(db, p.instanceId, { first, after, filter, onlyAgentId: callRecordsLimitedTo(p) }),
  position: (r) => [new Date(r.started_at).toISOString(), r.contact_id],
  columns: callRecordColumns,
  prepare: loadCallRecordNames,
});

export const chatRecordsExport = recordsExport<ChatRecordRow, z.infer<typeof chatRecordFilter>>({
  name: 'chat-records',
  filter: chatRecordFilter,
  page: (db, p, filter, after, first) => listChatRecords(db, p.instanceId, { first, after, filter, onlyAgentId: chatRecordsLimitedTo(p) }),
  position: (r) => [new Date(r.created_at).toISOString(), r.contact_id],
  columns: chatRecordColumns,
  prepare: loadChatRecordNames,
});

/** The pages of `pages` with the first one already read (so a failing first query is a clean error answer). */
async function firstPageRead<R>(pages: AsyncIterable<R[]>): Promise<AsyncIterable<R[]>> {
  const iterator = pages[Symbol.asyncIterator]();
  const first = await iterator.next();
  return {
    async *[Symbol.asyncIterator]() {
      if (first.done) return;
      yield first.value;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    },
  };
}

export interface ExportsRouteOptions {
  deps: ApiDeps;
  /** Rows per read-model query (tests make it small to cross many pages). */
  pageSize?: number;
}

export async function exportsRoute(app: FastifyInstance, options: ExportsRouteOptions): Promise<void> {
  const { deps } = options;
  // Encapsulated: the zod compiler applies to these routes only.
  app.setValidatorCompiler(validatorCompiler);
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
    if (err instanceof DomainError) return fail(reply, httpStatusOf[err.code], err.code, err.message, err instanceof ValidationError ? err.field : undefined);
    if (err.statusCode && err.statusCode < 500) return fail(reply, err.statusCode, 'BAD_USER_INPUT', err.message);
    request.log.error({ err }, 'CSV export failed');
    return fail(reply, 500, 'INTERNAL_SERVER_ERROR', 'Internal server error');
  });

  for (const e of [callRecordsExport, chatRecordsExport, ...reportExports]) {
    app.withTypeProvider<ZodTypeProvider>().get(`/exports/${e.name}.csv`, { schema: { querystring: exportParameters } }, async (request, reply) => {
      let principal: InstancePrincipal;
      try {
        principal = requireInstance(request.principal);
      } catch (err) {
        if (err instanceof ForbiddenError) throw new ForbiddenError(`${err.message}; exports are for an instance's staff and API keys`);
        throw err;
      }
      const query = request.query;
      const opened = await e.open({ db: deps.db, principal, query, pageSize, reportLimits: reportLimitsOf(deps) });
      const headers = {
        'content-type': 'text/csv; charset=utf-8',
        'content-disposition': `attachment; filename="${opened.filename}.csv"`,
        'cache-control': 'private, no-store',
        'referrer-policy': 'no-referrer',
        'x-content-type-options': 'nosniff',
        'x-kefu-time-zone': opened.timeZone,
      };
      // HEAD: checked like GET, but no rows are read (node would read the whole export to send nothing).
      if (request.method === 'HEAD') return reply.headers(headers).send(Readable.from([]));
      const pages = await firstPageRead(opened.pages);
      const body = csvStream(pages, opened.columns, opened.prepare);
      body.on('error', (err) => request.log.error({ err, export: e.name }, 'CSV export broke off'));
      return reply.headers(headers).send(body);
    });
  }
}
