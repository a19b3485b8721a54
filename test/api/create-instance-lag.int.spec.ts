// Mutations that create something and show a secret only in their answer (createInstance's admin key,
// createApiKey, createWebChannel's identity secret), when the read models lag past settle's wait (a loaded
// machine): they wait for the table they read instead of answering NOT_FOUND for what exists and losing the secret.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instancesProjection } from '../../src/projections/instances/instances.projection.ts';
import type { Projection } from '../../src/projections/projection.ts';
import { webChannelsProjection } from '../../src/projections/web-channels/web-channels.projection.ts';
import { operatorToken, seedInstance, startTestKefu, type GqlResult, type TestKefu } from '../support/kefu.ts';

type Mutable = { apply: Projection['apply'] };

describe('created secrets with lagging read models (pglite)', () => {
  let t: TestKefu;
  const applies = new Map<Mutable, Projection['apply']>([
    [instancesProjection as Mutable, instancesProjection.apply],
    [webChannelsProjection as Mutable, webChannelsProjection.apply],
  ]);
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite' });
  });
  afterAll(async () => {
    for (const [p, apply] of applies) p.apply = apply;
    await t?.close();
  });

  /**
   * Runs a mutation while `projection` holds the event `holds` picks until the mutation is waiting, and settle's
   * general wait gives up at once (as when it runs out on a loaded machine).
   */
  async function lagging<T>(projection: Projection, holds: (type: string, data: Record<string, unknown>) => boolean, run: () => Promise<GqlResult<T>>) {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let held = false;
    const realApply = applies.get(projection as Mutable)!;
    (projection as Mutable).apply = async (trx, e, changes) => {
      if (holds(e.type, e.data as Record<string, unknown>)) {
        held = true;
        await gate;
      }
      return realApply!(trx, e, changes);
    };
    const runner = t.kefu.projections;
    const realWaitFor = runner.waitFor.bind(runner);
    runner.waitFor = async (position, options = {}) => (options.projections?.length === 1 && options.stallMs === undefined ? realWaitFor(position, options) : false);
    try {
      const answer = run();
      await expect.poll(() => held, { timeout: 30_000 }).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      open();
      return await answer;
    } finally {
      runner.waitFor = realWaitFor;
      (projection as Mutable).apply = realApply;
      open();
    }
  }

  it('createInstance answers the instance and a working admin key', async () => {
    const r = await lagging(instancesProjection, (type, data) => type === 'InstanceCreated' && data.name === 'Slow Co', () =>
      t.gql<{ createInstance: { instance: { name: string }; adminApiKey: string } }>(operatorToken, 'mutation { createInstance(input: { name: "Slow Co" }) { instance { name } adminApiKey } }'),
    );
    expect(r.errors).toBeUndefined();
    expect(r.data!.createInstance.instance.name).toBe('Slow Co');
    expect((await t.gql(r.data!.createInstance.adminApiKey, '{ me { __typename } }')).errors).toBeUndefined();
  });

  it('createApiKey answers the key with a working secret', async () => {
    const seed = await seedInstance(t, { name: 'Lag Co', seats: 0 });
    const key = await lagging(instancesProjection, (type, data) => type === 'ApiKeyCreated' && data.name === 'slow key', () =>
      t.gql<{ createApiKey: { apiKey: { name: string }; secret: string } }>(seed.adminKey, 'mutation { createApiKey(input: { name: "slow key", role: INTEGRATION }) { apiKey { name } secret } }'),
    );
    expect(key.errors).toBeUndefined();
    expect(key.data!.createApiKey.apiKey.name).toBe('slow key');
    expect((await t.gql(key.data!.createApiKey.secret, '{ me { __typename } }')).errors).toBeUndefined();
  });

  it('createWebChannel answers the channel with its identity secret', async () => {
    const seed = await seedInstance(t, { name: 'Lag Web Co', seats: 0 });
    const group = await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation { createSkillGroup(input: { name: "Web", channel: ONLINE }) { id } }');
    const channel = await lagging(webChannelsProjection, (type, data) => type === 'WebChannelCreated' && data.name === 'Slow site', () =>
      t.gql<{ createWebChannel: { webChannel: { name: string }; identitySecret: string } }>(
        seed.adminKey,
        'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { name } identitySecret } }',
        { input: { name: 'Slow site', allowedOrigins: ['https://shop.example'], skillGroupId: group.createSkillGroup.id } },
      ),
    );
    expect(channel.errors).toBeUndefined();
    expect(channel.data!.createWebChannel.webChannel.name).toBe('Slow site');
    expect(channel.data!.createWebChannel.identitySecret).toMatch(/^[A-Za-z0-9_-]{40,}$/);
  });
});
