// Signed chat file links: made and checked with Kefu's key, bound to the instance, the file and the variant,
// refused once expired; and the upload settings' defaults and refusals.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkChatFileLink, signedChatFileLink } from '../../src/adapters/chat-files/chat-files.ts';
import { ConfigError, loadConfig } from '../../src/config.ts';

const key = Buffer.alloc(32, 7);
const settings = { linkKey: key, linkSeconds: 3600 };
const instanceId = randomUUID();
const fileId = randomUUID();
const now = new Date('2026-12-04T10:00:10.000Z');
const parts = (link: string) => {
  const u = new URL(link, 'http://kefu.test');
  return { path: u.pathname, i: u.searchParams.get('i')!, exp: u.searchParams.get('exp')!, sig: u.searchParams.get('sig')! };
};

describe('signed chat file links', () => {
  it('name the file (or its thumbnail) and expire after linkSeconds, rounded up to the minute', () => {
    const link = parts(signedChatFileLink(settings, now, instanceId, fileId, 'file'));
    expect(link.path).toBe(`/chat/files/${fileId}`);
    expect(link.i).toBe(instanceId);
    expect(Number(link.exp)).toBe(Date.parse('2026-12-04T11:01:00.000Z') / 1000);
    expect(parts(signedChatFileLink(settings, now, instanceId, fileId, 'thumbnail')).path).toBe(`/chat/files/${fileId}/thumbnail`);
    // The same minute gives the same link (a browser can cache it).
    expect(signedChatFileLink(settings, new Date(now.getTime() + 20_000), instanceId, fileId, 'file')).toBe(signedChatFileLink(settings, now, instanceId, fileId, 'file'));
  });

  it('check only for the same key, instance, file, variant and exp, until exp', () => {
    const { exp, sig } = parts(signedChatFileLink(settings, now, instanceId, fileId, 'file'));
    expect(checkChatFileLink(settings, now, instanceId, fileId, 'file', exp, sig)).toEqual({ ok: true, exp: Number(exp) });
    const invalid = { ok: false, reason: 'invalid' };
    expect(checkChatFileLink({ linkKey: Buffer.alloc(32, 8) }, now, instanceId, fileId, 'file', exp, sig)).toEqual(invalid);
    expect(checkChatFileLink(settings, now, randomUUID(), fileId, 'file', exp, sig)).toEqual(invalid);
    expect(checkChatFileLink(settings, now, instanceId, randomUUID(), 'file', exp, sig)).toEqual(invalid);
    expect(checkChatFileLink(settings, now, instanceId, fileId, 'thumbnail', exp, sig)).toEqual(invalid);
    expect(checkChatFileLink(settings, now, instanceId, fileId, 'file', String(Number(exp) + 60), sig)).toEqual(invalid);
    expect(checkChatFileLink(settings, now, instanceId, fileId, 'file', exp, sig.slice(1))).toEqual(invalid);
    expect(checkChatFileLink(settings, now, instanceId, fileId, 'file', '1e9', sig)).toEqual(invalid);
    const atExp = new Date(Number(exp) * 1000);
    expect(checkChatFileLink(settings, new Date(atExp.getTime() - 1000), instanceId, fileId, 'file', exp, sig).ok).toBe(true);
    expect(checkChatFileLink(settings, atExp, instanceId, fileId, 'file', exp, sig)).toEqual({ ok: false, reason: 'expired' });
  });
});

describe('chat upload settings', () => {
  it('have defaults: 10 MiB, images, PDF and text, links for an hour, files under the data folder', () => {
    const c = loadConfig({});
    expect(c.KEFU_CHAT_UPLOAD_MAX_BYTES).toBe(10 * 1024 * 1024);
    expect(c.KEFU_CHAT_UPLOAD_TYPES).toEqual(['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'application/pdf', 'text/plain']);
    expect(c.KEFU_CHAT_FILE_LINK_SECONDS).toBe(3600);
    expect(c.KEFU_CHAT_FILES_DIR).toBeUndefined();
    expect(loadConfig({ KEFU_CHAT_UPLOAD_TYPES: ' image/PNG, application/zip ,image/png' }).KEFU_CHAT_UPLOAD_TYPES).toEqual(['image/png', 'application/zip']);
  });

  it('refuse what they cannot mean, naming the setting', () => {
    expect(() => loadConfig({ KEFU_CHAT_UPLOAD_TYPES: 'image/svg+xml' })).toThrow(ConfigError);
    expect(() => loadConfig({ KEFU_CHAT_UPLOAD_TYPES: 'image/svg+xml' })).toThrow(/KEFU_CHAT_UPLOAD_TYPES: must be a comma-separated list/);
    expect(() => loadConfig({ KEFU_CHAT_UPLOAD_TYPES: ',' })).toThrow(/KEFU_CHAT_UPLOAD_TYPES/);
    expect(() => loadConfig({ KEFU_CHAT_UPLOAD_MAX_BYTES: '10' })).toThrow(/KEFU_CHAT_UPLOAD_MAX_BYTES: must be 1024 to 104857600/);
    expect(() => loadConfig({ KEFU_CHAT_FILE_LINK_SECONDS: '5' })).toThrow(/KEFU_CHAT_FILE_LINK_SECONDS/);
  });
});
