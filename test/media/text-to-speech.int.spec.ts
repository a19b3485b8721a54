import { mkdtemp, readdir, rm } from 'node:fs/promises';
import type * as ChildProcess from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EspeakTextToSpeech } from '../../src/adapters/media/text-to-speech.ts';
import { rms } from './rtp-peer.ts';

// Count espeak-ng runs while still running the real binary.
const runs = vi.hoisted(() => ({ count: 0 }));
vi.mock('node:child_process', async (importOriginal) => {
  const actual = await importOriginal<typeof ChildProcess>();
  return {
    ...actual,
    execFile: (...args: Parameters<typeof actual.execFile>) => {
      runs.count++;
      return actual.execFile(...args);
    },
  };
});

let cacheDir: string;

beforeEach(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'kefu-tts-'));
  runs.count = 0;
});

afterEach(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

// espeak-ng is a required tool for this suite: without it (or in CI) these tests fail, they do not skip.
describe('EspeakTextToSpeech', () => {
  it('synthesizes "hello" to audible 8 kHz audio and caches it', async () => {
    const tts = new EspeakTextToSpeech({ cacheDir });
    const first = await tts.synthesize('hello');
    expect(first).toBeInstanceOf(Int16Array);
    // "hello" takes roughly 0.3-1.5 s to say.
    expect(first.length).toBeGreaterThan(0.2 * 8000);
    expect(first.length).toBeLessThan(2 * 8000);
    expect(rms(first)).toBeGreaterThan(500);
    expect(runs.count).toBe(1);
    expect(await readdir(cacheDir)).toHaveLength(1);

    const again = await new EspeakTextToSpeech({ cacheDir }).synthesize('hello');
    expect(again).toEqual(first);
    expect(runs.count).toBe(1);
  });

  it('shares one synthesis between concurrent identical requests, and caches per voice', async () => {
    const tts = new EspeakTextToSpeech({ cacheDir });
    const [x, y] = await Promise.all([tts.synthesize('press one for sales'), tts.synthesize('press one for sales')]);
    expect(x).toBe(y);
    expect(runs.count).toBe(1);
    await tts.synthesize('press one for sales', { voice: 'en-us' });
    expect(runs.count).toBe(2);
    expect((await readdir(cacheDir)).filter((f) => f.endsWith('.wav'))).toHaveLength(2);
  });

  it('says text that starts with a dash instead of taking it as an option', async () => {
    const audio = await new EspeakTextToSpeech({ cacheDir }).synthesize('-v nothing');
    expect(rms(audio)).toBeGreaterThan(500);
  });

  it('explains a missing espeak-ng binary', async () => {
    const tts = new EspeakTextToSpeech({ cacheDir, binary: join(cacheDir, 'no-such-espeak') });
    await expect(tts.synthesize('hello')).rejects.toThrowError(/needs espeak-ng, but ".*no-such-espeak" was not found/);
  });

  it('refuses empty text and odd voice names', async () => {
    const tts = new EspeakTextToSpeech({ cacheDir });
    await expect(tts.synthesize('  ')).rejects.toThrowError(/empty/);
    await expect(tts.synthesize('hi', { voice: 'en; rm -rf /' })).rejects.toThrowError(/bad espeak-ng voice/);
    expect(runs.count).toBe(0);
  });
});
