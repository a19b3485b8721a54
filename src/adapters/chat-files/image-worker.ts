// The worker thread that processes uploaded chat images (see image-processor.ts): one request at a time,
// answered by its id; it stays up between uploads so that each one does not pay for loading the decoders.
import { parentPort } from 'node:worker_threads';
import { processUpload, UploadRefusedError, type ProcessedUpload, type UploadRequest } from './process-upload.ts';

export interface WorkerRequest {
  id: number;
  request: UploadRequest;
}

export type WorkerResult = { id: number } & ({ processed: ProcessedUpload } | { refused: { status: 400 | 415; message: string } } | { failure: string });

const port = parentPort;
if (!port) throw new Error('image-worker.ts runs as a worker thread');
port.on('message', ({ id, request }: WorkerRequest) => {
  try {
    const processed = processUpload(request);
    // Copied, not transferred: an encoder's output may sit in Node's shared buffer pool.
    port.postMessage({ id, processed } satisfies WorkerResult);
  } catch (error) {
    if (error instanceof UploadRefusedError) port.postMessage({ id, refused: { status: error.status, message: error.message } } satisfies WorkerResult);
    else port.postMessage({ id, failure: error instanceof Error ? error.message : String(error) } satisfies WorkerResult);
  }
});
