// A worker thread that processes one uploaded chat file (see image-processor.ts) and exits.
import { parentPort, workerData } from 'node:worker_threads';
import { processUpload, UploadRefusedError, type ProcessedUpload, type UploadRequest } from './process-upload.ts';

export type WorkerResult = { processed: ProcessedUpload } | { refused: { status: 400 | 415; message: string } } | { failure: string };

const port = parentPort;
if (!port) throw new Error('image-worker.ts runs as a worker thread');
try {
  const processed = processUpload(workerData as UploadRequest);
  port.postMessage({ processed } satisfies WorkerResult);
} catch (error) {
  if (error instanceof UploadRefusedError) port.postMessage({ refused: { status: error.status, message: error.message } } satisfies WorkerResult);
  else port.postMessage({ failure: error instanceof Error ? error.message : String(error) } satisfies WorkerResult);
}
