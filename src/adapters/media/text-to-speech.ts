import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeWavTo8kMono, encodeWav8kMono } from './audio-file.ts';

export interface TextToSpeech {
  /** 8 kHz mono PCM16. */
  synthesize(text: string, options?: { voice?: string }): Promise<Int16Array>;
}

const MAX_TEXT_LENGTH = 5000;
const TIMEOUT_MS = 30_000;

/**
 * Speech from espeak-ng, run without a shell, converted to 8 kHz and cached in cacheDir as WAV files
 * named by sha256(voice, text): a prompt is synthesized once, then read back. Concurrent requests for the
 * same text share one synthesis.
 */
export class EspeakTextToSpeech implements TextToSpeech {
  private readonly cacheDir: string;
  private readonly binary: string;
  private readonly voice: string;
  private readonly pending = new Map<string, Promise<Int16Array>>();

  constructor(o: { cacheDir: string; binary?: string; voice?: string }) {
    this.cacheDir = o.cacheDir;
    this.binary = o.binary ?? 'espeak-ng';
    this.voice = o.voice ?? 'en';
  }

  synthesize(text: string, options?: { voice?: string }): Promise<Int16Array> {
    const voice = options?.voice ?? this.voice;
    if (typeof text !== 'string' || text.trim() === '') return Promise.reject(new Error('text to speak is empty'));
    if (text.length > MAX_TEXT_LENGTH) return Promise.reject(new Error(`text to speak is ${text.length} characters; at most ${MAX_TEXT_LENGTH}`));
    if (!/^[A-Za-z0-9_+\-/]+$/.test(voice)) return Promise.reject(new Error(`bad espeak-ng voice "${voice}" (expected a name like en, en-us, de, en+f3)`));
    const key = createHash('sha256').update(voice).update('\0').update(text).digest('hex');
    let job = this.pending.get(key);
    if (!job) {
      job = this.cachedOrSynthesized(key, text, voice).finally(() => this.pending.delete(key));
      this.pending.set(key, job);
    }
    return job;
  }

  private async cachedOrSynthesized(key: string, text: string, voice: string): Promise<Int16Array> {
    const path = join(this.cacheDir, `${key}.wav`);
    try {
      return decodeWavTo8kMono(await readFile(path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        // A damaged cache file: make it again.
        await rm(path, { force: true });
      }
    }
    await mkdir(this.cacheDir, { recursive: true });
    const raw = join(this.cacheDir, `${key}.${randomBytes(6).toString('hex')}.espeak.tmp`);
    try {
      await this.run(['-v', voice, '-w', raw, '--', text]);
      const samples = decodeWavTo8kMono(await readFile(raw));
      const staged = `${raw}.wav`;
      await writeFile(staged, encodeWav8kMono(samples));
      await rename(staged, path);
      return samples;
    } finally {
      await rm(raw, { force: true });
      await rm(`${raw}.wav`, { force: true });
    }
  }

  private run(args: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      execFile(this.binary, args, { timeout: TIMEOUT_MS, windowsHide: true }, (error, _stdout, stderr) => {
        if (!error) return resolve();
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(new Error(`text to speech needs espeak-ng, but "${this.binary}" was not found: install it (apt-get install espeak-ng) or configure its path`, { cause: error }));
        } else {
          const detail = String(stderr).trim() || error.message;
          reject(new Error(`espeak-ng failed: ${detail}`, { cause: error }));
        }
      });
    });
  }
}
