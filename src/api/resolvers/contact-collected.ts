// What a chat flow (or an integration) collected on a contact, for records read after the chat: its data
// (flow variables) and key trail (the choices made). A page of records asks for many contacts at once: the
// asks of one tick go to the read model as one statement.
import type { KefuContext } from '../context.ts';

export interface ContactCollected {
  data: { key: string; value: string }[];
  keyTrail: { key: string; label: string | null; at: string }[];
}

interface Batch {
  ids: Set<string>;
  result: Promise<Map<string, ContactCollected>>;
}

const batches = new WeakMap<object, Map<string, Batch>>();

/** The contact's collected data and key trail; empty for a contact the read model does not have. */
export async function contactCollected(ctx: KefuContext, instanceId: string, contactId: string): Promise<ContactCollected> {
  let perInstance = batches.get(ctx);
  if (!perInstance) batches.set(ctx, (perInstance = new Map()));
  let batch = perInstance.get(instanceId);
  if (!batch) {
    const ids = new Set<string>();
    const result = new Promise<void>((resolve) => queueMicrotask(resolve)).then(async () => {
      // Later asks start a new batch.
      if (perInstance.get(instanceId) === batch) perInstance.delete(instanceId);
      const rows = await ctx.deps.db.selectFrom('contacts').select(['id', 'data', 'key_trail']).where('instance_id', '=', instanceId).where('id', 'in', [...ids]).execute();
      return new Map(
        rows.map((r) => [
          r.id,
          {
            data: Object.entries((r.data as Record<string, string> | null) ?? {}).map(([key, value]) => ({ key, value })),
            keyTrail: ((r.key_trail as ContactCollected['keyTrail'] | null) ?? []).map((k) => ({ key: k.key, label: k.label ?? null, at: k.at })),
          },
        ]),
      );
    });
    batch = { ids, result };
    perInstance.set(instanceId, batch);
  }
  batch.ids.add(contactId);
  return (await batch.result).get(contactId) ?? { data: [], keyTrail: [] };
}
