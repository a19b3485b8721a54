// Uploaded WAVs are decoded on a worker thread: resampling minutes of 44.1 kHz stereo takes seconds of CPU,
// which on the main thread would stall every call, chat and API request meanwhile. The header is checked
// here first (sample rate, channels, duration), so a refused file never costs a thread.
import { Worker } from 'node:worker_threads';
import { AudioFormatError, checkWavHeader } from './audio-file.ts';
import type { DecodeRequest, DecodeResult } from './wav-decode-worker.ts';

const WORKER_URL = new URL('./wav-decode-worker.ts', import.meta.url);

export interface OffThreadWavDecoderOptions {
  /** Decodes at once; more wait their turn (uploads are rare, each one may use a CPU for seconds). */
  maxConcurrent?: number;
  /** A decode still running after this is stopped and the upload refused. */
  timeoutMs?: number;
}

export class OffThreadWavDecoder {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly maxConcurrent: number;
  private readonly timeoutMs: number;

  constructor(options: OffThreadWavDecoderOptions = {}) {
    this.maxConcurrent = options.maxConcurrent ?? 1;
    this.timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** Decodes running or waiting for their turn. */
  get pending(): number {
    return this.running + this.waiting.length;
  }

  /** 8 kHz mono PCM16 samples; AudioFormatError for a file that is not acceptable audio. */
  async decode(bytes: Uint8Array, options: { maxSeconds: number }): Promise<Int16Array> {
    checkWavHeader(bytes, options);
    if (this.running >= this.maxConcurrent) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running += 1;
    try {
      return await this.inWorker({ bytes, maxSeconds: options.maxSeconds });
    } finally {
      this.running -= 1;
      this.waiting.shift()?.();
    }
  }

  private inWorker(request: DecodeRequest): Promise<Int16Array> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(WORKER_URL, { workerData: request, name: 'kefu-wav-decode', resourceLimits: { maxOldGenerationSizeMb: 512 } });
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        outcome();
        void worker.terminate();
      };
      const timer = setTimeout(
        () => settle(() => reject(new AudioFormatError(`audio could not be decoded within ${Math.round(this.timeoutMs / 1000)} s`))),
        this.timeoutMs,
      );
      worker.once('message', (result: DecodeResult) =>
        settle(() => {
          if ('samples' in result) resolve(result.samples);
          else if ('formatError' in result) reject(new AudioFormatError(result.formatError));
          else reject(new Error(`decoding a WAV failed: ${result.failure}`));
        }),
      );
      worker.once('error', (error) => settle(() => reject(error)));
      worker.once('exit', (code) => settle(() => reject(new Error(`the WAV decoding thread exited (code ${code}) without an answer`))));
    });
  }
}
