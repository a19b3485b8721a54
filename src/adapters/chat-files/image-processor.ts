// Uploads are processed on a worker thread: decoding a 12-megapixel photo in JavaScript takes a second or
// more of CPU, which on the main thread would stall every chat and call meanwhile. Files that are not
// images need no decoding and are processed here at once.
import { Worker } from 'node:worker_threads';
import { detectFileType } from './detect.ts';
import { processUpload, UploadRefusedError, type ProcessedUpload, type UploadRequest } from './process-upload.ts';
import type { WorkerResult } from './image-worker.ts';

const WORKER_URL = new URL('./image-worker.ts', import.meta.url);

export interface UploadProcessorOptions {
  /** Images decoded at once; more wait their turn. */
  maxConcurrent?: number;
  /** A file still being processed after this is refused. */
  timeoutMs?: number;
}

export class UploadProcessor {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly maxConcurrent: number;
  private readonly timeoutMs: number;

  constructor(options: UploadProcessorOptions = {}) {
    this.maxConcurrent = options.maxConcurrent ?? 1;
    this.timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** Images being processed or waiting for their turn. */
  get pending(): number {
    return this.running + this.waiting.length;
  }

  /** What to keep of an upload; UploadRefusedError when it is refused. */
  async process(request: UploadRequest): Promise<ProcessedUpload> {
    if (!detectFileType(request.bytes).image) return processUpload(request);
    if (this.running >= this.maxConcurrent) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running += 1;
    try {
      return await this.inWorker(request);
    } finally {
      this.running -= 1;
      this.waiting.shift()?.();
    }
  }

  private inWorker(request: UploadRequest): Promise<ProcessedUpload> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(WORKER_URL, { workerData: request, name: 'kefu-chat-image', resourceLimits: { maxOldGenerationSizeMb: 1536 } });
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        outcome();
        void worker.terminate();
      };
      const timer = setTimeout(
        () => settle(() => reject(new UploadRefusedError(415, `file: the image could not be processed within ${Math.round(this.timeoutMs / 1000)} s`))),
        this.timeoutMs,
      );
      worker.once('message', (result: WorkerResult) =>
        settle(() => {
          if ('processed' in result) resolve(result.processed);
          else if ('refused' in result) reject(new UploadRefusedError(result.refused.status, result.refused.message));
          else reject(new Error(`processing an uploaded image failed: ${result.failure}`));
        }),
      );
      worker.once('error', (error) =>
        settle(() => {
          // Out of memory in the worker: the image needs more than any chat picture should.
          if ((error as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY') reject(new UploadRefusedError(415, 'file: the image is too large to process'));
          else reject(error);
        }),
      );
      worker.once('exit', (code) => settle(() => reject(new Error(`the image processing thread exited (code ${code}) without an answer`))));
    });
  }
}
