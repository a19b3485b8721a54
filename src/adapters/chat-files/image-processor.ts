// Uploads are processed on a worker thread: decoding a 12-megapixel photo in JavaScript takes a second or
// more of CPU, which on the main thread would stall every chat and call meanwhile. One worker, kept between
// uploads (loading the decoders costs a second on a busy machine), takes one image at a time; one that runs
// past the time limit or dies (out of memory) is replaced for the next. Files that are not images need no
// decoding and are processed here at once.
import { Worker } from 'node:worker_threads';
import { detectFileType } from './detect.ts';
import { processUpload, UploadRefusedError, type ProcessedUpload, type UploadRequest } from './process-upload.ts';
import type { WorkerRequest, WorkerResult } from './image-worker.ts';

const WORKER_URL = new URL('./image-worker.ts', import.meta.url);

export interface UploadProcessorOptions {
  /** A file still being processed after this is refused (and its worker replaced). */
  timeoutMs?: number;
}

interface Job {
  id: number;
  worker: Worker;
  resolve: (processed: ProcessedUpload) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export class UploadProcessor {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** A file still being processed after this many milliseconds is refused (and its worker replaced). */
  timeoutMs: number;
  private worker: Worker | null = null;
  private job: Job | null = null;
  private nextId = 1;

  constructor(options: UploadProcessorOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** Images being processed or waiting for their turn. */
  get pending(): number {
    return this.running + this.waiting.length;
  }

  /** What to keep of an upload; UploadRefusedError when it is refused. */
  async process(request: UploadRequest): Promise<ProcessedUpload> {
    if (!detectFileType(request.bytes).image) return processUpload(request);
    if (this.running >= 1) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running += 1;
    try {
      return await this.inWorker(request);
    } finally {
      this.running -= 1;
      this.waiting.shift()?.();
    }
  }

  /** Stops the worker; an upload in progress is refused. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (this.job) this.finish(this.job, (j) => j.reject(new Error('the upload processor was closed')), false);
    if (worker) await worker.terminate();
  }

  /** Ends a job once; `replace` stops its worker (timed out or broken), so the next job gets a fresh one. */
  private finish(job: Job, outcome: (job: Job) => void, replace: boolean): void {
    if (this.job !== job) return;
    this.job = null;
    clearTimeout(job.timer);
    outcome(job);
    if (replace) {
      if (this.worker === job.worker) this.worker = null;
      void job.worker.terminate();
    }
  }

  private workerFor(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_URL, { name: 'kefu-chat-image', resourceLimits: { maxOldGenerationSizeMb: 1536 } });
    const jobOf = () => (this.job?.worker === worker ? this.job : null);
    worker.on('message', (result: WorkerResult) => {
      const job = jobOf();
      if (!job || job.id !== result.id) return;
      this.finish(
        job,
        (j) => {
          if ('processed' in result) j.resolve(result.processed);
          else if ('refused' in result) j.reject(new UploadRefusedError(result.refused.status, result.refused.message));
          else j.reject(new Error(`processing an uploaded image failed: ${result.failure}`));
        },
        false,
      );
    });
    worker.on('error', (error) => {
      const job = jobOf();
      // Out of memory in the worker: the image needs more than any chat picture should.
      const outOfMemory = (error as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY';
      if (job) this.finish(job, (j) => j.reject(outOfMemory ? new UploadRefusedError(415, 'file: the image is too large to process') : error), true);
    });
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = null;
      const job = jobOf();
      if (job) this.finish(job, (j) => j.reject(new Error(`the image processing thread exited (code ${code}) without an answer`)), false);
    });
    // An idle worker does not keep the process alive.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private inWorker(request: UploadRequest): Promise<ProcessedUpload> {
    return new Promise((resolve, reject) => {
      const worker = this.workerFor();
      const job: Job = {
        id: this.nextId++,
        worker,
        resolve,
        reject,
        timer: setTimeout(() => this.finish(job, (j) => j.reject(new UploadRefusedError(415, `file: the image could not be processed within ${Math.round(this.timeoutMs / 1000)} s`)), true), this.timeoutMs),
      };
      this.job = job;
      worker.postMessage({ id: job.id, request } satisfies WorkerRequest);
    });
  }
}
