import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// Issue 12: the instance's satisfaction survey (scale and channel switches) as one JSON value; null until
// first configured (defaultSatisfactionSurvey applies).
export const instancesSatisfactionMigrations: Record<string, Migration> = {
  '2026_12_22_000_instances_satisfaction': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('instances').addColumn('satisfaction_survey', 'jsonb').execute();
    },
  },
};
