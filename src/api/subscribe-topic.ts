// Subscription resolvers subscribe to one bus topic of the caller's instance. mercurius's error formatter does
// not see errors thrown while subscribing, so this is where a refusal gets its extensions.code.
import { requireInstance, type InstancePrincipal } from './auth.ts';
import type { KefuContext } from './context.ts';
import { toGraphQLError } from './errors.ts';
import type { LiveFanout } from './live-fanout.ts';
import { snapshotThenChanges, type LiveView } from './snapshot-then-changes.ts';

/** `topicOf` checks the caller and the arguments (throwing DomainErrors) and names the topic. */
export async function subscribeTopic(ctx: KefuContext, topicOf: (p: InstancePrincipal) => string): Promise<AsyncIterable<unknown>> {
  try {
    return await subscribeLive(ctx, topicOf(requireInstance(ctx.principal)));
  } catch (err) {
    throw toGraphQLError(err);
  }
}

/**
 * The same, starting with the current state: the view's snapshot first, then the topic's changes, with
 * nothing lost or repeated in between (see snapshotThenChanges).
 */
export async function subscribeTopicFromSnapshot<T>(
  ctx: KefuContext,
  topicOf: (p: InstancePrincipal) => string,
  viewOf: (p: InstancePrincipal) => LiveView<T>,
): Promise<AsyncIterable<T>> {
  try {
    const p = requireInstance(ctx.principal);
    const topic = topicOf(p);
    const view = viewOf(p);
    const live = (await subscribeLive(ctx, topic)) as AsyncIterable<T>;
    return snapshotThenChanges(live, {
      read: () => view.read().catch((err: unknown) => Promise.reject(toGraphQLError(err))),
      admit: (message) => view.admit(message),
      ...(view.notInSnapshot ? { notInSnapshot: view.notInSnapshot.bind(view) } : {}),
    });
  } catch (err) {
    throw toGraphQLError(err);
  }
}

function subscribeLive(ctx: KefuContext, topic: string): Promise<AsyncIterable<unknown>> {
  // The topic comes from the shared fan-out: one bus subscription and one parse per topic and process.
  const { live } = ctx as unknown as { live?: LiveFanout };
  if (!live) throw new Error('Subscriptions are served over graphql-ws (graphql-ws-server.ts), whose context has the live fan-out');
  return live.topics.subscribe(topic);
}
