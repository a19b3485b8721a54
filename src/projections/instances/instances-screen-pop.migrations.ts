import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// Screen pop settings live on the instance row. The signing secret is kept readable (not hashed): Kefu
// signs every screen pop URL with it. The API never returns it after rotateScreenPopSecret's answer.
export const instancesScreenPopMigrations: Record<string, Migration> = {
  '2026_11_25_015_instances_screen_pop': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('instances')
        .addColumn('screen_pop_url_template', 'text')
        .addColumn('screen_pop_pinned', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('screen_pop_configured_at', 'timestamptz')
        .addColumn('screen_pop_secret', 'text')
        .addColumn('screen_pop_secret_rotated_at', 'timestamptz')
        .execute();
    },
  },
};
