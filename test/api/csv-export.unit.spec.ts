// The streaming core of the CSV exports (src/api/exports/csv-export.ts): what Excel needs (BOM, CRLF,
// quoting, formula cells escaped), keyset pages read only as the consumer takes rows (a paused client holds
// the export at about two pages), a failing page read breaks the stream, and times in a chosen zone.
import { parse } from 'csv-parse/sync';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { csvStream, keysetRows, timeIn, type CsvColumn } from '../../src/api/exports/csv-export.ts';

interface Row {
  n: number;
  text: string;
}

const columns: CsvColumn<Row>[] = [
  { header: 'n', value: (r) => r.n },
  { header: 'text', value: (r) => r.text },
];

/** A synthetic list of `total` rows, n = total … 1 (newest first), read by keyset; counts the rows read. */
function syntheticList(total: number, fill = 'x') {
  const stats = { pages: 0, rowsRead: 0, largestPage: 0 };
  const page = async (after: number | null, first: number): Promise<Row[]> => {
    const start = after === null ? total : after - 1;
    const rows: Row[] = [];
    for (let n = start; n >= 1 && rows.length < first; n--) rows.push({ n, text: `${fill}${n}` });
    stats.pages++;
    stats.rowsRead += rows.length;
    stats.largestPage = Math.max(stats.largestPage, rows.length);
    return rows;
  };
  return { page, stats, position: (r: Row) => r.n };
}

async function text(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('CSV export stream', () => {
  it('writes a BOM, a header row, CRLF rows, quotes what needs quoting and escapes formula cells', async () => {
    const rows: Row[] = [
      { n: 1, text: '=HYPERLINK("http://evil.example","click")' },
      { n: 2, text: '+8613800000001' },
      { n: 3, text: '-2+3' },
      { n: 4, text: '@SUM(A1)' },
      { n: 5, text: '\tTabbed' },
      { n: 6, text: '\rReturn' },
      { n: 7, text: 'Zhang "Boss",\n张三' },
      { n: -8, text: 'plain' },
    ];
    const bytes = await text(csvStream(keysetRows({ page: async (after) => (after === null ? rows : []), position: (r) => r.n, pageSize: 100 }), columns));
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const csv = bytes.toString('utf8');
    expect(csv.startsWith('\uFEFFn,text\r\n')).toBe(true);
    expect(csv.endsWith('\r\n')).toBe(true);
    // Every line break between records is CRLF: with records split on CRLF only, the parse still works.
    const parsed = parse(csv, { bom: true, columns: true, record_delimiter: '\r\n' }) as Record<string, string>[];
    expect(parsed.map((r) => r.text)).toEqual([
      `'=HYPERLINK("http://evil.example","click")`,
      `'+8613800000001`,
      `'-2+3`,
      `'@SUM(A1)`,
      `'\tTabbed`,
      `'\rReturn`,
      'Zhang "Boss",\n张三',
      'plain',
    ]);
    // A negative number is a number, not a formula.
    expect(parsed.at(-1)!.n).toBe('-8');
  });

  it('reads every row once across many pages, in order', async () => {
    const list = syntheticList(10_007);
    const csv = (await text(csvStream(keysetRows({ page: list.page, position: list.position, pageSize: 500 }), columns))).toString('utf8');
    const parsed = parse(csv, { bom: true, columns: true }) as Record<string, string>[];
    expect(parsed.length).toBe(10_007);
    expect(parsed.map((r) => Number(r.n))).toEqual(Array.from({ length: 10_007 }, (_, i) => 10_007 - i));
    expect(list.stats.largestPage).toBe(500);
    expect(list.stats.pages).toBe(21);
  });

  it('reads the next page only when the consumer takes rows: a paused client holds it at a few pages', async () => {
    const list = syntheticList(1_000_000, 'y'.repeat(100));
    const stream = csvStream(keysetRows({ page: list.page, position: list.position, pageSize: 500 }), columns);
    let received = 0;
    let rows = 0;
    await new Promise<void>((resolve) => {
      stream.once('data', (chunk: Buffer) => {
        received += chunk.length;
        for (const b of chunk) if (b === 0x0a) rows++;
        stream.pause();
        resolve();
      });
    });
    // Let everything that would run without a consumer run.
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 200));
    const readWhilePaused = list.stats.rowsRead;
    expect(readWhilePaused).toBeLessThanOrEqual(2_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(list.stats.rowsRead).toBe(readWhilePaused);

    // Then the whole million goes through with the heap staying flat (rows are not kept).
    const heapBefore = process.memoryUsage().heapUsed;
    let peak = heapBefore;
    stream.resume();
    await pipeline(
      stream,
      new Writable({
        write(chunk: Buffer, _enc, done) {
          received += chunk.length;
          for (const b of chunk) if (b === 0x0a) rows++;
          if (rows % 50_000 < 200) peak = Math.max(peak, process.memoryUsage().heapUsed);
          done();
        },
      }),
    );
    expect(rows).toBe(1_000_001);
    expect(list.stats.rowsRead).toBe(1_000_000);
    // The CSV is over 100 MB; holding it, or the rows, would take several times the bound.
    expect(received).toBeGreaterThan(100_000_000);
    expect(peak - heapBefore).toBeLessThan(64 * 1024 * 1024);
  });

  it('breaks the stream when a page read fails after the first rows were written', async () => {
    let pages = 0;
    const stream = csvStream(
      keysetRows({
        page: async (after: number | null) => {
          if (pages++ === 2) throw new Error('database went away');
          const start = after === null ? 100 : after - 1;
          return Array.from({ length: 10 }, (_, i) => ({ n: start - i, text: 'r' }));
        },
        position: (r: Row) => r.n,
        pageSize: 10,
      }),
      columns,
    );
    await expect(text(stream)).rejects.toThrow('database went away');
  });

  it('writes times to the second in the chosen zone with its offset, across a daylight-saving change', () => {
    expect(timeIn('UTC')('2026-12-04T18:30:05.123Z')).toBe('2026-12-04T18:30:05Z');
    expect(timeIn('Asia/Shanghai')('2026-12-04T18:30:05.999Z')).toBe('2026-12-05T02:30:05+08:00');
    const ny = timeIn('America/New_York');
    expect(ny('2026-03-08T06:59:59Z')).toBe('2026-03-08T01:59:59-05:00');
    expect(ny('2026-03-08T07:00:00Z')).toBe('2026-03-08T03:00:00-04:00');
    expect(timeIn('Asia/Kolkata')('2026-01-01T00:00:00Z')).toBe('2026-01-01T05:30:00+05:30');
    expect(timeIn('America/St_Johns')('2026-01-01T00:00:00Z')).toBe('2025-12-31T20:30:00-03:30');
    expect(timeIn('Asia/Shanghai')(null)).toBeNull();
    // Every zoned time is the same instant again.
    for (const at of ['2026-03-08T06:59:59Z', '2026-11-01T05:30:00Z', '2026-11-01T06:30:00Z']) expect(Date.parse(ny(at)!)).toBe(Date.parse(at));
  });
});
