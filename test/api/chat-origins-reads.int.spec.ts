// The CORS answer for a chat page's origin is read once per expiry, not once per request: requests that arrive
// while the read runs wait for it (a busy chat site's requests each sent their own read whenever the answer
// expired: 0.1-0.2 statements per chat message at 2,000 chatting customers).
import { describe, expect, it } from 'vitest';
import { ChannelOrigins } from '../../src/api/chat-origins.ts';
import { readModelStore, watchQueries } from '../support/read-model.ts';

describe('chat page origins (CORS)', () => {
  it('concurrent requests from one origin share one read of the channels, then the answer is kept', async () => {
    const store = (await readModelStore('pglite'))!;
    try {
      const now = new Date();
      await store.db
        .insertInto('web_channels')
        .values({ instance_id: 'i1', id: 'c1', name: 'Shop', public_key: 'k1', allowed_origins: JSON.stringify(['https://shop.example.com']) as never, skill_group_id: 'g1', welcome_text: null, enabled: true, identity_secret: 's', created_at: now, updated_at: now, deleted_at: null } as never)
        .execute();
      let reads = 0;
      watchQueries(store.client, (text) => {
        if (text.includes('allowed_origins')) reads++;
      });
      const origins = new ChannelOrigins(store.db);
      const answers = await Promise.all(Array.from({ length: 20 }, () => origins.anyAllows('https://shop.example.com')));
      expect(answers).toEqual(Array.from({ length: 20 }, () => true));
      expect(reads).toBe(1);
      const refused = await Promise.all(Array.from({ length: 5 }, () => origins.anyAllows('https://other.example.com')));
      expect(refused).toEqual(Array.from({ length: 5 }, () => false));
      expect(reads).toBe(2);
      // Answered from memory while it lasts.
      expect(await origins.anyAllows('https://shop.example.com')).toBe(true);
      expect(reads).toBe(2);
    } finally {
      await store.drop();
    }
  });
});
