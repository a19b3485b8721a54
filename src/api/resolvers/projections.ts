// Parked parts of projections (issue 9): the platform operator sees which instance's part of which read
// model stopped at an event it could not apply, with the error, and retries it after a fix.
import { z } from 'zod';
import { NotFoundError } from '../../domain/errors.ts';
import { storableText, text } from '../../domain/values.ts';
import { positionToString } from '../../domain/ports/event-store.ts';
import { listParkedParts, type ParkedPart } from '../../projections/parked-parts.ts';
import { requireOperator } from '../auth.ts';
import type { KefuContext } from '../context.ts';
import { parseInput } from '../input.ts';

function toParkedProjectionPart(p: ParkedPart) {
  return {
    projection: p.projection,
    instanceId: p.instanceId,
    eventId: p.eventId,
    eventType: p.eventType,
    streamId: p.streamId,
    eventPosition: positionToString(p.eventPosition),
    error: p.error,
    parkedAt: p.parkedAt,
    lastRetryAt: p.lastRetryAt,
  };
}

const retryInput = z.object({
  projection: text({ max: 100 }),
  // Not an id check: a part is named as it was parked, whatever the event carried.
  instanceId: storableText(500),
});

export const projectionResolvers = {
  Query: {
    async parkedProjectionParts(_: unknown, __: unknown, ctx: KefuContext) {
      requireOperator(ctx.principal);
      return (await listParkedParts(ctx.deps.db)).map(toParkedProjectionPart);
    },
  },
  Mutation: {
    async retryParkedProjectionPart(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      requireOperator(ctx.principal);
      const input = parseInput(retryInput, args.input);
      const outcome = await ctx.deps.readModels.retryParkedPart(input.projection, input.instanceId);
      if (!outcome) throw new NotFoundError('Parked part', `${input.projection}/${input.instanceId}`);
      if (outcome.resumed) return { resumed: true, appliedEvents: outcome.appliedEvents, part: null };
      return { resumed: false, appliedEvents: 0, part: toParkedProjectionPart(outcome.part) };
    },
  },
};
