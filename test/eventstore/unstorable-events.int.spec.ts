// The command handler's last line of defence (issue 9, item 2): whatever door a command comes through (the
// API, SIP, a process), an event holding a value a store or a read model cannot hold is refused with a
// ValidationError (BAD_USER_INPUT) naming the field, and nothing is appended. Runs on PGlite and PostgreSQL,
// and on EventStoreDB when EVENTSTORE_URL is set (as the conformance suite does).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandHandler } from '../../src/adapters/eventstore/command-handler.ts';
import { EventStoreDbEventStore } from '../../src/adapters/eventstore/eventstoredb/eventstoredb-event-store.ts';
import { PostgresEventStore, migrateEventStore } from '../../src/adapters/eventstore/postgres/postgres-event-store.ts';
import { createPgliteClient, type SqlClient } from '../../src/adapters/sql/sql-client.ts';
import { blacklistDecider } from '../../src/domain/blacklist/blacklist.decide.ts';
import type { CommandMetadata, Decider, DomainEvent } from '../../src/domain/decider.ts';
import type { EventStore } from '../../src/domain/ports/event-store.ts';
import { ValidationError } from '../../src/domain/errors.ts';
import { streams } from '../../src/domain/streams.ts';
import { freshPostgresSchema } from '../support/services.ts';

interface AnyCommand {
  data: Record<string, unknown>;
  metadata: CommandMetadata;
}

/** Appends whatever data it is given: a door that checks nothing. */
const anything: Decider<null, AnyCommand, DomainEvent<'SomethingHappened', Record<string, unknown>>> = {
  initialState: () => null,
  evolve: (s) => s,
  decide: (c) => [{ type: 'SomethingHappened', data: c.data }],
};

const metadata = (over: Partial<CommandMetadata> = {}): CommandMetadata => ({ now: new Date().toISOString(), instanceId: randomUUID(), actor: 'system:test', correlationId: randomUUID(), ...over });

let deep: Record<string, unknown> = { leaf: 1 };
for (let i = 0; i < 40; i++) deep = { a: deep };

const refused: [string, Record<string, unknown>, string][] = [
  ['a NUL in a string', { name: 'a\u0000b' }, 'name'],
  ['an unpaired high surrogate', { customer: { name: 'x\uD800' } }, 'customer.name'],
  ['an unpaired low surrogate in a list', { reasons: ['ok', '\uDC00'] }, 'reasons.1'],
  ['a NUL in a key', { data: { 'k\u0000': 'v' } }, 'data.k\u0000'],
  ['a timestamp in the year 10000', { expiresAt: '+010000-01-01T00:00:00.000Z' }, 'expiresAt'],
  ['a timestamp in the year 275760', { at: '+275760-09-13T00:00:00.000Z' }, 'at'],
  ['a timestamp in the year 0', { at: '0000-06-01T00:00:00.000Z' }, 'at'],
  ['a negative-year timestamp', { at: '-000001-01-01T00:00:00.000Z' }, 'at'],
  ['an invalid Date', { at: new Date(Number.NaN) }, 'at'],
  ['a Date past 9999', { at: new Date(8.64e15) }, 'at'],
  ['NaN', { figures: { jitterMs: Number.NaN } }, 'figures.jitterMs'],
  ['Infinity', { seconds: Number.POSITIVE_INFINITY }, 'seconds'],
  ['a bigint', { n: 1n }, 'n'],
  ['nesting 41 deep', deep, `${'a.'.repeat(32).slice(0, -1)}`],
];

type OpenStore = () => Promise<{ store: EventStore; dispose: () => Promise<void> }>;

async function openPglite(): Promise<{ store: EventStore; dispose: () => Promise<void> }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'kefu-unstorable-'));
  const sql = await createPgliteClient(dir);
  await migrateEventStore(sql);
  const store = new PostgresEventStore(sql);
  return {
    store,
    dispose: async () => {
      await store.close();
      await sql.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function openPostgres(): Promise<{ store: EventStore; dispose: () => Promise<void> }> {
  const schema = await freshPostgresSchema();
  const sql: SqlClient = schema.client;
  await migrateEventStore(sql);
  const store = new PostgresEventStore(sql);
  return {
    store,
    dispose: async () => {
      await store.close();
      await schema.drop();
    },
  };
}

const eventStoreUrl = process.env.EVENTSTORE_URL;
const stores: [string, OpenStore][] = [
  ['PGlite', openPglite],
  ['PostgreSQL', openPostgres],
  ...(eventStoreUrl ? [['EventStoreDB', async () => {
    const store = new EventStoreDbEventStore(eventStoreUrl);
    return { store, dispose: () => store.close() };
  }] as [string, OpenStore]] : []),
];

for (const [label, open] of stores) {
  describe(`the command handler refuses events a store cannot hold (${label})`, () => {
    let store: EventStore;
    let dispose: () => Promise<void>;
    let commands: CommandHandler;

    beforeAll(async () => {
      ({ store, dispose } = await open());
      commands = new CommandHandler(store);
    });
    afterAll(async () => dispose?.());

    for (const [name, data, field] of refused) {
      it(`${name} → ValidationError on ${field}`, async () => {
        const streamId = `test-${randomUUID()}`;
        const err = await commands.handle(streamId, anything, { data, metadata: metadata() }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ValidationError);
        expect(err).toMatchObject({ code: 'BAD_USER_INPUT', field });
        expect(await store.readStream(streamId)).toEqual([]);
      });
    }

    it('metadata is checked too', async () => {
      const streamId = `test-${randomUUID()}`;
      const err = await commands.handle(streamId, anything, { data: { ok: true }, metadata: metadata({ actor: 'agent:\u0000' }) }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'BAD_USER_INPUT', field: 'metadata.actor' });
      expect(await store.readStream(streamId)).toEqual([]);
    });

    it('a blacklist entry expiring in the year 10000, from a door that checks nothing, is never appended', async () => {
      const instanceId = randomUUID();
      const command = {
        type: 'AddToBlacklist' as const,
        data: { entryId: randomUUID(), channel: 'PHONE' as const, identity: '+8613800000000', reason: 'spam', expiresAt: '+010000-01-01T00:00:00.000Z', byAgentId: null, contactId: null },
        metadata: metadata({ instanceId }),
      };
      await expect(commands.handle(streams.blacklist(instanceId), blacklistDecider, command)).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field: 'expiresAt' });
      expect(await store.readStream(streams.blacklist(instanceId))).toEqual([]);
    });

    it('everything storable is appended and read back unchanged, at the edges of the range', async () => {
      const streamId = `test-${randomUUID()}`;
      const data = {
        text: 'Zoë 客服 😀 𝄞 \t\n "quoted" \\ \u200B\uFEFF',
        first: '0001-01-01T00:00:00.000Z',
        last: '9999-12-31T23:59:59.999Z',
        notADate: '+010000 is just text here',
        numbers: [0, -1, 1.5, Number.MAX_SAFE_INTEGER],
        nested: [[[{ a: [[{ b: 'deep enough' }]] }]]],
        empty: '',
        nothing: null,
      };
      await commands.handle(streamId, anything, { data, metadata: metadata() });
      const [e] = await store.readStream(streamId);
      expect(e!.data).toEqual(data);
    });
  });
}
