import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/** PH-3 mobile answering: the agent's mode and mobile number. */
export const agentsMobileMigrations: Record<string, Migration> = {
  '2026_12_10_022_agents_mobile_answering': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('agents')
        .addColumn('answer_on_mobile', 'text', (c) => c.notNull().defaultTo(sql`'NEVER'`))
        .addColumn('mobile_number', 'text')
        .execute();
    },
  },
};
