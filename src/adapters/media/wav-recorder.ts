import { mkdir, open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

const HEADER_SIZE = 44;

export interface WavRecorderResult {
  durationMs: number;
  /** File size, header included. */
  bytes: number;
}

/**
 * A streaming 16-bit PCM WAV writer: writes the header with zero sizes, appends chunks in order as they
 * come, and patches the RIFF and data sizes on stop. write() never waits; a failed file operation is kept
 * and reported by stop().
 */
export class WavRecorder {
  readonly path: string;
  private readonly channels: number;
  private readonly sampleRate: number;
  private chain: Promise<FileHandle | null>;
  private dataBytes = 0;
  private failure: unknown = null;
  private stopping: Promise<WavRecorderResult> | null = null;

  constructor(path: string, o: { channels: number; sampleRate: number }) {
    this.path = path;
    this.channels = o.channels;
    this.sampleRate = o.sampleRate;
    this.chain = this.openFile().catch((error: unknown) => {
      this.failure = error;
      return null;
    });
  }

  /** Queues 16-bit little-endian interleaved samples; the recorder owns `chunk` from now on. */
  write(chunk: Uint8Array): void {
    if (this.stopping || chunk.length === 0) return;
    this.dataBytes += chunk.length;
    this.chain = this.chain.then(async (file) => {
      if (!file || this.failure) return file;
      try {
        await file.write(chunk);
      } catch (error) {
        this.failure = error;
      }
      return file;
    });
  }

  stop(): Promise<WavRecorderResult> {
    this.stopping ??= this.finish();
    return this.stopping;
  }

  private async openFile(): Promise<FileHandle> {
    await mkdir(dirname(this.path), { recursive: true });
    const file = await open(this.path, 'w');
    await file.write(this.header(0));
    return file;
  }

  private async finish(): Promise<WavRecorderResult> {
    const file = await this.chain;
    if (file) {
      try {
        if (!this.failure) {
          const header = this.header(this.dataBytes);
          await file.write(header.subarray(4, 8), 0, 4, 4);
          await file.write(header.subarray(40, 44), 0, 4, 40);
        }
      } catch (error) {
        this.failure = error;
      } finally {
        await file.close();
      }
    }
    if (this.failure) throw new Error(`recording ${this.path} failed: ${describe(this.failure)}`, { cause: this.failure });
    const bytesPerSecond = this.sampleRate * this.channels * 2;
    return { durationMs: Math.round((this.dataBytes / bytesPerSecond) * 1000), bytes: HEADER_SIZE + this.dataBytes };
  }

  private header(dataBytes: number): Uint8Array {
    const header = Buffer.alloc(HEADER_SIZE);
    header.write('RIFF', 0, 'ascii');
    header.writeUInt32LE(36 + dataBytes, 4);
    header.write('WAVE', 8, 'ascii');
    header.write('fmt ', 12, 'ascii');
    header.writeUInt32LE(16, 16);
    header.writeUInt16LE(1, 20); // PCM
    header.writeUInt16LE(this.channels, 22);
    header.writeUInt32LE(this.sampleRate, 24);
    header.writeUInt32LE(this.sampleRate * this.channels * 2, 28);
    header.writeUInt16LE(this.channels * 2, 32);
    header.writeUInt16LE(16, 34);
    header.write('data', 36, 'ascii');
    header.writeUInt32LE(dataBytes, 40);
    return header;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
