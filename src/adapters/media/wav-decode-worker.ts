// A worker thread that decodes one uploaded WAV to 8 kHz mono (see off-thread-wav-decoder.ts) and exits.
import { parentPort, workerData } from 'node:worker_threads';
import { AudioFormatError, decodeWavTo8kMono } from './audio-file.ts';

export interface DecodeRequest {
  bytes: Uint8Array;
  maxSeconds: number;
}

export type DecodeResult = { samples: Int16Array } | { formatError: string } | { failure: string };

const port = parentPort;
if (!port) throw new Error('wav-decode-worker.ts runs as a worker thread');
const request = workerData as DecodeRequest;
try {
  const samples = decodeWavTo8kMono(request.bytes, { maxSeconds: request.maxSeconds });
  port.postMessage({ samples } satisfies DecodeResult, [samples.buffer as ArrayBuffer]);
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  port.postMessage((error instanceof AudioFormatError ? { formatError: message } : { failure: message }) satisfies DecodeResult);
}
