// Subscription resolvers subscribe to one bus topic of the caller's instance. mercurius's error formatter does
// not see errors thrown while subscribing, so this is where a refusal gets its extensions.code.
import { requireInstance, type InstancePrincipal } from './auth.ts';
import type { KefuContext } from './context.ts';
import { toGraphQLError } from './errors.ts';

/** `topicOf` checks the caller and the arguments (throwing DomainErrors) and names the topic. */
export async function subscribeTopic(ctx: KefuContext, topicOf: (p: InstancePrincipal) => string): Promise<AsyncIterable<unknown>> {
  try {
    const topic = topicOf(requireInstance(ctx.principal));
    const { pubsub } = ctx as unknown as { pubsub: { subscribe(topic: string): Promise<AsyncIterable<unknown>> } };
    return await pubsub.subscribe(topic);
  } catch (err) {
    throw toGraphQLError(err);
  }
}
