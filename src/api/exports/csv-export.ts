// Streamed CSV for spreadsheets (issue 15, CHANNELS.md "CSV for spreadsheets"): csv-stringify with a UTF-8
// BOM (Excel then reads UTF-8), CRLF rows, one header row, and formula cells escaped (a value starting with
// = + - @ tab or CR is written with a leading ', so a spreadsheet shows it as text instead of running it).
//
// Rows come from the read model a page at a time (keyset pagination, the same order and filters as the
// GraphQL lists), each page made into CSV bytes at once, and the next page is read only when the HTTP client
// has taken the previous one: with a slow client or a year of records, at most about two pages' bytes and
// the stream's buffer are in memory.
import { Readable } from 'node:stream';
import { stringify as stringifySync, type Options as SyncOptions } from 'csv-stringify/sync';

export type CsvValue = string | number | boolean | null | undefined;

export interface CsvColumn<R> {
  header: string;
  value: (row: R) => CsvValue;
}

/**
 * Rows per read-model query. Small: a page's rows then die young (before V8 promotes them to the old
 * generation, where dead rows pile up until a full GC). 200,000-row export: peak heap over idle 261 MiB
 * with 500-row pages, 228 MiB with 100; a keyset page of 100 is one index range read.
 */
export const exportPageSize = 100;

/**
 * Every row of a keyset-paginated list, page after page: `page(after, first)` reads `first` rows after the
 * position `after` (null: from the start); `position(row)` is where the next page starts. A page shorter
 * than asked is the last. `firstPage`, when given, is the page already read from the start (the route reads
 * it before answering, so a failing query is still a clean error response).
 */
export async function* keysetRows<R, P>(options: {
  page: (after: P | null, first: number) => Promise<R[]>;
  position: (row: R) => P;
  pageSize?: number;
  firstPage?: R[];
}): AsyncGenerator<R[]> {
  const size = options.pageSize ?? exportPageSize;
  let rows = options.firstPage ?? (await options.page(null, size));
  for (;;) {
    if (rows.length > 0) yield rows;
    if (rows.length < size) return;
    // No read ahead here: csvStream asks for the next page while the previous one's bytes are written.
    rows = await options.page(options.position(rows.at(-1)!), size);
  }
}

/** csv-stringify's options for the rows (the header row and BOM are written once, first). */
const rowOptions: SyncOptions = { record_delimiter: 'windows', escape_formulas: true, cast: { boolean: (v) => (v ? 'true' : 'false') } };

/**
 * The CSV of every row of `pages` as a byte stream. `prepare` runs once per page before its rows are
 * written (to look up names for the page's ids, say). Each page is made into its CSV bytes as soon as it is
 * read (csv-stringify's sync API, the same options), so what waits for a slow client is a buffer, not
 * thousands of row objects: rows kept across the socket's waits outlived V8's young generation and piled up
 * in the old one until a full GC (most of the export's memory). The next page is read while the previous
 * one's bytes are written (one page ahead). An error while reading destroys the stream, so the HTTP answer
 * ends without its final chunk and the client sees a broken download, never a short file that looks complete.
 */
export function csvStream<R>(pages: AsyncIterable<R[]>, columns: CsvColumn<R>[], prepare?: (rows: R[]) => Promise<void>): Readable {
  const header = Buffer.from(stringifySync([], { bom: true, header: true, columns: columns.map((c) => c.header), record_delimiter: 'windows' }));
  async function* chunks() {
    yield header;
    const iterator = pages[Symbol.asyncIterator]();
    const bytesOfNext = async (): Promise<Buffer | null> => {
      const next = await iterator.next();
      if (next.done) return null;
      if (prepare) await prepare(next.value);
      return Buffer.from(stringifySync(next.value.map((row) => columns.map((c) => c.value(row) ?? null)), rowOptions));
    };
    let ahead = bytesOfNext();
    for (;;) {
      const bytes = await ahead;
      if (!bytes) return;
      ahead = bytesOfNext();
      // A failure of the read ahead is reported when its page is due, not as an unhandled rejection before.
      ahead.catch(() => undefined);
      yield bytes;
    }
  }
  // Backpressure: the next page's bytes are taken only when the client has read below the high-water mark.
  return Readable.from(chunks(), { objectMode: false, highWaterMark: 64 * 1024 });
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterIn(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    if (formatters.size > 100) formatters.clear();
    formatters.set(timeZone, f);
  }
  return f;
}

const pad = (n: number, width = 2) => String(Math.abs(n)).padStart(width, '0');

/**
 * An instant as RFC 3339 to the second, in `timeZone` with its offset at that instant
 * (2026-12-05T02:30:00+08:00); UTC as 2026-12-04T18:30:00Z. Null stays null.
 */
export function timeIn(timeZone: string) {
  // Stored times are years 0001-9999, so toISOString is always YYYY-MM-DDTHH:mm:ss.sssZ.
  if (timeZone === 'UTC') return (at: Date | string | null): string | null => (at === null ? null : `${(at instanceof Date ? at : new Date(at)).toISOString().slice(0, 19)}Z`);
  const f = formatterIn(timeZone);
  return (at: Date | string | null): string | null => {
    if (at === null) return null;
    const d = new Date(at);
    const parts: Record<string, string> = {};
    for (const p of f.formatToParts(d)) parts[p.type] = p.value;
    const wall = `${pad(Number(parts.year), 4)}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}`;
    const offsetMinutes = Math.round((Date.parse(`${wall}Z`) - Math.floor(d.getTime() / 1000) * 1000) / 60_000);
    const sign = offsetMinutes < 0 ? '-' : '+';
    return `${wall}${sign}${pad(Math.trunc(offsetMinutes / 60))}:${pad(offsetMinutes % 60)}`;
  };
}
