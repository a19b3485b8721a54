// Read model migrations (kysely). Each projection's tables sit in its folder; this file orders them.
import { sql, type Kysely } from 'kysely';
import { type Migration, type MigrationProvider, Migrator } from 'kysely/migration';
import { agentsMigrations } from './agents/agents.migrations.ts';
import { agentsWorkloadMigrations } from './agents/agents-workload.migrations.ts';
import { agentsMobileMigrations } from './agents/agents-mobile.migrations.ts';
import { skillGroupOutboundMigrations } from './skill-groups/skill-groups-outbound.migrations.ts';
import { skillGroupDeviceLostMigrations } from './skill-groups/skill-groups-device-lost.migrations.ts';
import { instancesMigrations } from './instances/instances.migrations.ts';
import { instancesScreenPopMigrations } from './instances/instances-screen-pop.migrations.ts';
import { blacklistMigrations } from './blacklist/blacklist.migrations.ts';
import { flowsMigrations } from './flows/flows.migrations.ts';
import { telephonyMigrations } from './telephony/telephony.migrations.ts';
import { callRecordsMigrations } from './call-records/call-records.migrations.ts';
import { callRecordsMediaMigrations } from './call-records/call-records-media.migrations.ts';
import { chatRecordsMigrations } from './chat-records/chat-records.migrations.ts';
import { skillGroupsMigrations } from './skill-groups/skill-groups.migrations.ts';
import { contactsMigrations } from './contacts/contacts.migrations.ts';
import { contactsConnectedAtMigrations } from './contacts/contacts-connected-at.migrations.ts';
import { contactMessagesMigrations } from './contacts/contact-messages.migrations.ts';
import { conversationsMigrations } from './contacts/conversations.migrations.ts';
import { chatFlowMessagesMigrations } from './contacts/chat-flow-messages.migrations.ts';
import { chatLinksMigrations } from './contacts/chat-links.migrations.ts';
import { contactMessagesClientIdMigrations } from './contacts/contact-messages-client-id.migrations.ts';
import { skillGroupRoutingOptionsMigrations } from './skill-groups/skill-groups-routing-options.migrations.ts';
import { parkedPartsMigrations } from './parked-parts.migrations.ts';
import { webChannelsMigrations } from './web-channels/web-channels.migrations.ts';
import { instancesSatisfactionMigrations } from './instances/instances-satisfaction.migrations.ts';
import { callRecordsSatisfactionMigrations } from './call-records/call-records-satisfaction.migrations.ts';
import { quickRepliesMigrations } from './quick-replies/quick-replies.migrations.ts';
import { reportsMigrations } from './reports/reports.migrations.ts';
import { wechatAccountsMigrations } from './wechat-accounts/wechat-accounts.migrations.ts';
import { webhooksMigrations } from './webhooks/webhooks.migrations.ts';

const coreMigrations: Record<string, Migration> = {
  '2026_11_25_000_core': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('kefu_projection_checkpoints')
        .ifNotExists()
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('position', 'text')
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createTable('kefu_secrets')
        .ifNotExists()
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
    },
  },
};

export const allMigrations: Record<string, Migration> = {
  ...coreMigrations,
  ...instancesMigrations,
  ...instancesScreenPopMigrations,
  ...agentsMigrations,
  ...agentsWorkloadMigrations,
  ...skillGroupsMigrations,
  ...skillGroupRoutingOptionsMigrations,
  ...contactsMigrations,
  ...contactsConnectedAtMigrations,
  ...contactMessagesMigrations,
  ...conversationsMigrations,
  ...chatFlowMessagesMigrations,
  ...chatLinksMigrations,
  ...contactMessagesClientIdMigrations,
  ...blacklistMigrations,
  ...flowsMigrations,
  ...telephonyMigrations,
  ...callRecordsMigrations,
  ...agentsMobileMigrations,
  ...skillGroupOutboundMigrations,
  ...skillGroupDeviceLostMigrations,
  ...parkedPartsMigrations,
  ...callRecordsMediaMigrations,
  ...chatRecordsMigrations,
  ...instancesSatisfactionMigrations,
  ...callRecordsSatisfactionMigrations,
  ...webChannelsMigrations,
  ...quickRepliesMigrations,
  ...reportsMigrations,
  ...wechatAccountsMigrations,
  ...webhooksMigrations,
};

class StaticMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return allMigrations;
  }
}

export async function migrateReadModels(db: Kysely<unknown>): Promise<void> {
  // Name the schema: kysely otherwise finds its tables in any schema of the database and skips creating them.
  const { rows } = await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(db);
  const migrator = new Migrator({
    db,
    provider: new StaticMigrationProvider(),
    migrationTableName: 'kefu_migrations',
    migrationLockTableName: 'kefu_migrations_lock',
    migrationTableSchema: rows[0]!.schema,
  });
  let { error, results } = await migrator.migrateToLatest();
  // kysely's table check reads the catalog of every schema in the database; a schema another application
  // (or a parallel test) drops at that moment fails it with "schema ... does not exist", or with "column ... of
  // relation ... does not exist" (its pg_get_serial_sequence() of each column, called on a table gone meanwhile).
  // That is not ours: read the catalog again, a few times.
  for (let attempt = 1; error && !results && attempt <= 3 && otherSchemaVanished(error, rows[0]!.schema); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    ({ error, results } = await migrator.migrateToLatest());
  }
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`Read model migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message ?? String(error)}`);
  }
}

/**
 * The catalog read failed on what another schema held (kysely names no migration then: `results` is undefined).
 * A column's or relation's error names no schema; three reads more tell a vanished table from a lasting fault.
 */
function otherSchemaVanished(error: unknown, ours: string): boolean {
  const message = (error as Error)?.message ?? '';
  const match = /^schema "([^"]+)" does not exist$/.exec(message);
  if (match) return match[1] !== ours;
  return /^column "[^"]+" of relation "[^"]+" does not exist$/.test(message) || /^could not open relation with OID \d+$/.test(message);
}
