// PGlite's protocol reader decoded text values with a TextDecoder that strips a leading byte order mark: a
// value starting with U+FEFF (a chat message, a name, customer data) came back without it. Kefu's PGlite client
// keeps it, as PostgreSQL through node-postgres does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgliteClient, type SqlClient } from '../../src/adapters/sql/sql-client.ts';

describe('PGlite text values that start with U+FEFF', () => {
  let sql: SqlClient;
  beforeAll(async () => {
    sql = await createPgliteClient(null);
  });
  afterAll(async () => {
    await sql?.close();
  });

  it('come back as stored: as parameters, as literals, in JSON, and from a table', async () => {
    const values = ['\uFEFF', '\uFEFFhello', '\uFEFF\uFEFFtwo', 'mid\uFEFFdle', 'end\uFEFF'];
    for (const v of values) {
      const r = await sql.query<{ p: string; j: { v: string } }>('SELECT $1::text AS p, json_build_object(\'v\', $1::text) AS j', [v]);
      expect(r.rows[0]).toEqual({ p: v, j: { v } });
    }
    await sql.query('CREATE TEMP TABLE bom_values (v text)');
    for (const v of values) await sql.query('INSERT INTO bom_values VALUES ($1)', [v]);
    expect((await sql.query<{ v: string }>('SELECT v FROM bom_values')).rows.map((r) => r.v)).toEqual(values);
    expect((await sql.query<{ v: string }>("SELECT E'\\uFEFFliteral' AS v")).rows[0]!.v).toBe('\uFEFFliteral');
    // The global decoder is the platform's again after the start (other code keeps the default behaviour).
    expect(new TextDecoder().decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x61]))).toBe('a');
  });
});
