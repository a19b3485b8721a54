// A real graphql-ws client, as a dashboard would use it.
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export function wsClient(baseUrl: string, token: string | null): Client {
  return createClient({
    url: `${baseUrl.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
    lazy: true,
  });
}

/** Subscribes and collects results; `next(n)` waits until n have arrived. */
export function collect<T>(client: Client, query: string, variables: Record<string, unknown> = {}) {
  const received: T[] = [];
  const errors: unknown[] = [];
  let wake: (() => void) | null = null;
  let completed = false;
  const dispose = client.subscribe<T>(
    { query, variables },
    {
      next: (v) => {
        if (v.errors) errors.push(...v.errors);
        if (v.data) received.push(v.data as T);
        wake?.();
      },
      error: (e) => {
        errors.push(e);
        wake?.();
      },
      complete: () => {
        completed = true;
        wake?.();
      },
    },
  );
  return {
    received,
    errors,
    dispose,
    get completed() {
      return completed;
    },
    async next(count: number, timeoutMs = 10_000): Promise<T[]> {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (errors.length > 0) throw new Error(`subscription failed: ${describeErrors(errors)}`);
        if (Date.now() > deadline) throw new Error(`only ${received.length} of ${count} messages after ${timeoutMs} ms`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 100);
        });
      }
      return received;
    },
  };
}

/** Waits until a subscription is registered server-side: graphql-ws has no ack per subscription, so wait a little. */
export const settleSubscription = () => new Promise((r) => setTimeout(r, 1000));

/**
 * Makes sure a subscription is live before a test relies on it: pokes (an action that makes a message) until
 * one arrives, then forgets what the pokes brought.
 */
export async function untilLive<T>(sub: { received: T[] }, poke: (attempt: number) => Promise<void>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    await poke(attempt);
    const until = Date.now() + 500;
    while (Date.now() < until && sub.received.length === 0) await new Promise((r) => setTimeout(r, 50));
    if (sub.received.length > 0) {
      // Let any message still on its way from the pokes arrive, then drop them all.
      await new Promise((r) => setTimeout(r, 300));
      sub.received.length = 0;
      return;
    }
  }
  throw new Error('the subscription never became live');
}

function describeErrors(errors: unknown[]): string {
  return JSON.stringify(errors.flat(), (_, v: unknown) =>
    v instanceof Error ? { message: v.message, ...(v as unknown as Record<string, unknown>) } : v,
  );
}
