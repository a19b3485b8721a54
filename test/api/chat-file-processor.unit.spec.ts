// The upload processor's worker thread: images are processed off the main thread with the same result as in
// it, one at a time in one kept worker; refusals come back as refusals; an image past the time limit is
// refused and the next one gets a fresh worker.
import { afterEach, describe, expect, it } from 'vitest';
import { defaultAllowedTypes } from '../../src/adapters/chat-files/detect.ts';
import { UploadProcessor } from '../../src/adapters/chat-files/image-processor.ts';
import { processUpload, UploadRefusedError, type UploadRequest } from '../../src/adapters/chat-files/process-upload.ts';
import { commentedGif, phoneJpeg, taggedPng, tinyPdf } from '../support/chat-images.ts';

const request = (bytes: Uint8Array, filename = 'x'): UploadRequest => ({ bytes, filename, declaredType: null, allowedTypes: defaultAllowedTypes, thumbnailSize: 320 });
const processors: UploadProcessor[] = [];
const processor = (timeoutMs?: number) => {
  const p = new UploadProcessor(timeoutMs === undefined ? {} : { timeoutMs });
  processors.push(p);
  return p;
};
afterEach(async () => {
  for (const p of processors.splice(0)) await p.close();
});

describe('upload processor', () => {
  it('processes images on its worker as the main thread would, several in turn', async () => {
    const p = processor();
    const inputs = [phoneJpeg({ width: 500, height: 300 }), taggedPng(), commentedGif()];
    const results = await Promise.all(inputs.map((bytes) => p.process(request(bytes))));
    expect(p.pending).toBe(0);
    results.forEach((r, i) => {
      const here = processUpload(request(inputs[i]!));
      expect({ ...r, bytes: Buffer.from(r.bytes), thumbnail: r.thumbnail && { ...r.thumbnail, bytes: Buffer.from(r.thumbnail.bytes) } }).toEqual({
        ...here,
        bytes: Buffer.from(here.bytes),
        thumbnail: here.thumbnail && { ...here.thumbnail, bytes: Buffer.from(here.thumbnail.bytes) },
      });
    });
    // Not an image: answered without the worker.
    expect((await p.process(request(tinyPdf, 'a.pdf'))).contentType).toBe('application/pdf');
  });

  it('passes a refusal back as a refusal (415 with the reason)', async () => {
    const p = processor();
    const err = await p.process(request(phoneJpeg().subarray(0, 600))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UploadRefusedError);
    expect((err as UploadRefusedError).status).toBe(415);
    expect((err as Error).message).toMatch(/not a valid image/);
  });

  it('refuses an image that takes longer than the limit, and the next one gets a fresh worker', async () => {
    const p = processor(1);
    const err = await p.process(request(phoneJpeg({ width: 800, height: 600 }))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UploadRefusedError);
    expect((err as Error).message).toMatch(/could not be processed within/);
    p.timeoutMs = 120_000;
    const again = await p.process(request(phoneJpeg({ width: 800, height: 600 })));
    expect([again.width, again.height, again.thumbnail?.width]).toEqual([800, 600, 320]);
  });
});
