import { describe, expect, it } from 'vitest';
import { ChatLimits, chatLimit, parseChatLimit } from '../../src/api/chat-limits.ts';
import { loadConfig } from '../../src/config.ts';
import { RateLimitedError } from '../../src/domain/errors.ts';

function caught(f: () => void): RateLimitedError {
  try {
    f();
  } catch (err) {
    if (err instanceof RateLimitedError) return err;
    throw err;
  }
  throw new Error('expected RATE_LIMITED');
}

describe('chat rate limits', () => {
  it('allows count per key in the window, then refuses with the seconds until the oldest leaves it', () => {
    let now = 1_000_000;
    const limits = new ChatLimits({ message: { count: 3, windowSeconds: 10 } }, () => now);
    limits.take('message', ['visitor:a']);
    now += 2000;
    limits.take('message', ['visitor:a']);
    limits.take('message', ['visitor:a']);
    const err = caught(() => limits.take('message', ['visitor:a']));
    expect(err.code).toBe('RATE_LIMITED');
    expect(err.retryAfterSeconds).toBe(8);
    // Another visitor is not affected; another kind neither.
    limits.take('message', ['visitor:b']);
    limits.take('chat', ['visitor:a']);
    // Once the first hit leaves the window, one more is allowed, and only one.
    now += 8000;
    limits.take('message', ['visitor:a']);
    expect(caught(() => limits.take('message', ['visitor:a'])).retryAfterSeconds).toBe(2);
  });

  it('counts every key and refuses if any is full, counting none of them then', () => {
    let now = 0;
    const limits = new ChatLimits({ chat: { count: 2, windowSeconds: 60 } }, () => now, { chat: { count: 2, windowSeconds: 60 } });
    limits.take('chat', ['visitor:a', 'ip:1.2.3.4']);
    limits.take('chat', ['visitor:b', 'ip:1.2.3.4']);
    // The address is full: visitor c is refused, and its own count stays untouched.
    expect(caught(() => limits.take('chat', ['visitor:c', 'ip:1.2.3.4'])).retryAfterSeconds).toBe(60);
    limits.take('chat', ['visitor:c', 'ip:5.6.7.8']);
    limits.take('chat', ['visitor:c', 'ip:9.9.9.9']);
    expect(() => limits.take('chat', ['visitor:c', 'ip:10.0.0.1'])).toThrow(RateLimitedError);
    now += 60_001;
    limits.take('chat', ['visitor:c', 'ip:1.2.3.4']);
  });

  it('gives client addresses (ip: keys) limits of their own, for many visitors behind one address', () => {
    const limits = new ChatLimits({ message: { count: 2, windowSeconds: 10 } }, () => 0, { message: { count: 5, windowSeconds: 10 } });
    for (const visitor of ['a', 'b']) {
      limits.take('message', [`visitor:${visitor}`, 'ip:1.2.3.4']);
      limits.take('message', [`visitor:${visitor}`, 'ip:1.2.3.4']);
      expect(() => limits.take('message', [`visitor:${visitor}`, 'ip:1.2.3.4'])).toThrow(RateLimitedError);
    }
    limits.take('message', ['visitor:c', 'ip:1.2.3.4']);
    // Five from the address now: a fourth visitor is refused for the address's sake.
    expect(() => limits.take('message', ['visitor:d', 'ip:1.2.3.4'])).toThrow(RateLimitedError);
    expect(new ChatLimits().addressSettings.message).toEqual({ count: 300, windowSeconds: 10 });
  });

  it('ignores empty keys and is off at count 0', () => {
    const limits = new ChatLimits({ upload: { count: 0, windowSeconds: 1 }, session: { count: 1, windowSeconds: 60 } }, Date.now, { upload: { count: 0, windowSeconds: 1 }, session: { count: 1, windowSeconds: 60 } });
    for (let i = 0; i < 100; i++) limits.take('upload', ['visitor:a']);
    limits.take('session', ['', 'ip:x']);
    limits.take('session', ['']);
    expect(() => limits.take('session', ['ip:x'])).toThrow(RateLimitedError);
  });

  it('chatLimit uses the deps limiter, or one default limiter per deps object', () => {
    const deps = { chatLimits: new ChatLimits({}, Date.now, { session: { count: 1, windowSeconds: 60 } }) };
    chatLimit(deps, 'session', ['ip:x']);
    expect(() => chatLimit(deps, 'session', ['ip:x'])).toThrow(RateLimitedError);
    const bare = {};
    for (let i = 0; i < 30; i++) chatLimit(bare, 'message', ['visitor:v']);
    expect(() => chatLimit(bare, 'message', ['visitor:v'])).toThrow(RateLimitedError);
    chatLimit({}, 'message', ['visitor:v']);
  });

  it('reads its settings as count/seconds or 0, with defaults', () => {
    expect(parseChatLimit('30/10')).toEqual({ count: 30, windowSeconds: 10 });
    expect(parseChatLimit(' 5 / 60 ')).toEqual({ count: 5, windowSeconds: 60 });
    expect(parseChatLimit('0')).toEqual({ count: 0, windowSeconds: 1 });
    expect(parseChatLimit('ten')).toBeNull();
    expect(parseChatLimit('5/0')).toBeNull();
    const c = loadConfig({});
    expect(c.KEFU_CHAT_LIMIT_MESSAGE).toEqual({ count: 30, windowSeconds: 10 });
    expect(c.KEFU_CHAT_LIMIT_CHAT).toEqual({ count: 20, windowSeconds: 3600 });
    expect(c.KEFU_CUSTOMER_TOKEN_SECONDS).toBe(86400);
    expect(loadConfig({ KEFU_CHAT_LIMIT_SESSION: '3/60' }).KEFU_CHAT_LIMIT_SESSION).toEqual({ count: 3, windowSeconds: 60 });
    expect(c.KEFU_CHAT_LIMIT_MESSAGE_PER_ADDRESS).toEqual({ count: 300, windowSeconds: 10 });
    expect(c.KEFU_CHAT_LIMIT_CHAT_PER_ADDRESS).toEqual({ count: 60, windowSeconds: 3600 });
    expect(() => loadConfig({ KEFU_CHAT_LIMIT_UPLOAD: 'lots' })).toThrow(/KEFU_CHAT_LIMIT_UPLOAD: must be count\/seconds/);
    expect(loadConfig({}).KEFU_TRUST_PROXY).toBe(false);
    expect(loadConfig({ KEFU_TRUST_PROXY: 'on' }).KEFU_TRUST_PROXY).toBe(true);
    expect(loadConfig({ KEFU_TRUST_PROXY: '2' }).KEFU_TRUST_PROXY).toBe(2);
    expect(loadConfig({ KEFU_TRUST_PROXY: '10.0.0.1, 192.168.0.0/16,::1' }).KEFU_TRUST_PROXY).toEqual(['10.0.0.1', '192.168.0.0/16', '::1']);
    for (const bad of ['proxy.example.com', '10.0.0.0/33', '10.0.0.1/8/1', '10.0.0.1,']) expect(() => loadConfig({ KEFU_TRUST_PROXY: bad })).toThrow(/KEFU_TRUST_PROXY: must be off, on/);
    expect(() => loadConfig({ KEFU_CUSTOMER_TOKEN_SECONDS: '10' })).toThrow(/KEFU_CUSTOMER_TOKEN_SECONDS: must be 60 to 2592000/);
  });
});
