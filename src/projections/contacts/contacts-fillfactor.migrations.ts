import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// A chat's contact row is updated at every message (last_seq, read state) and its indexed columns stay as they
// are, so PostgreSQL can write the new version on the same page without new index entries (a HOT update), but
// only if the page has room for it. A page filled to 100 % (~11 rows of ~700 bytes) gets room back only when
// pruning (run on a page as it is read, autovacuum or not) removes dead versions, and on a busy server it often
// cannot yet (versions still visible to running transactions, the page pinned by another backend): the update
// then moves the row to another page with an entry in each index, and the row's next updates follow it there
// (chat-cpu bench at load 6-9: 10-53 % of the contacts updates HOT in 5 of 6 runs, 83 % in one). Pages filled
// to half keep room for a few versions until pruning can run. The price is about twice the table's size (rows
// written once, ended chats and calls, are placed so too). Only rows written from now on are placed so.
export const CONTACTS_FILLFACTOR = 50;

export const contactsFillfactorMigrations: Record<string, Migration> = {
  '2027_01_10_300_contacts_fillfactor': {
    async up(db: Kysely<unknown>) {
      await sql`ALTER TABLE contacts SET (fillfactor = ${sql.lit(CONTACTS_FILLFACTOR)})`.execute(db);
    },
  },
};
