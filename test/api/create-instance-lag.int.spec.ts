// createInstance when the read models lag past settle's wait (a loaded machine): the instance exists and its
// admin key is shown only in this answer, so the mutation waits for the instances table instead of answering
// NOT_FOUND and losing the key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instancesProjection } from '../../src/projections/instances/instances.projection.ts';
import type { Projection } from '../../src/projections/projection.ts';
import { operatorToken, startTestKefu, type TestKefu } from '../support/kefu.ts';

describe('createInstance with lagging read models (pglite)', () => {
  let t: TestKefu;
  const realApply = instancesProjection.apply!;
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite' });
  });
  afterAll(async () => {
    (instancesProjection as { apply: Projection['apply'] }).apply = realApply;
    await t?.close();
  });

  it('answers the instance and a working admin key once the instances table has it', async () => {
    // The instances projection holds the new instance's event until the gate opens; settle's wait gives up at once.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let held = false;
    (instancesProjection as { apply: Projection['apply'] }).apply = async (trx, e, changes) => {
      if (e.type === 'InstanceCreated' && (e.data as { name?: string }).name === 'Slow Co') {
        held = true;
        await gate;
      }
      return realApply(trx, e, changes);
    };
    const runner = t.kefu.projections;
    const realWaitFor = runner.waitFor.bind(runner);
    runner.waitFor = async (position, options = {}) => (options.projections ? realWaitFor(position, options) : false);
    try {
      const answer = t.gql<{ createInstance: { instance: { id: string; name: string }; adminApiKey: string } }>(
        operatorToken,
        'mutation { createInstance(input: { name: "Slow Co" }) { instance { id name } adminApiKey } }',
      );
      await expect.poll(() => held, { timeout: 30_000 }).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      open();
      const r = await answer;
      expect(r.errors).toBeUndefined();
      expect(r.data!.createInstance.instance.name).toBe('Slow Co');
      const me = await t.gql<{ me: { __typename: string } }>(r.data!.createInstance.adminApiKey, '{ me { __typename } }');
      expect(me.errors).toBeUndefined();
    } finally {
      runner.waitFor = realWaitFor;
      open();
    }
  });
});
