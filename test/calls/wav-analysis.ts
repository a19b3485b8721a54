// Reads a recording back for assertions: format, length and how loud each channel is.
import { readFileSync } from 'node:fs';

export interface WavInfo {
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  seconds: number;
  /** RMS level per channel (16-bit full scale = 32767). */
  rms: number[];
  /** Share of 20 ms frames per channel whose RMS is above a quiet threshold (so "carries audio" is not one click). */
  activeShare: number[];
}

export function analyseWav(file: string): WavInfo {
  const b = readFileSync(file);
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') throw new Error(`${file} is not a WAV file`);
  let off = 12;
  let fmt: { channels: number; sampleRate: number; bits: number } | null = null;
  let data: Buffer | null = null;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    const body = b.subarray(off + 8, off + 8 + size);
    if (id === 'fmt ') fmt = { channels: body.readUInt16LE(2), sampleRate: body.readUInt32LE(4), bits: body.readUInt16LE(14) };
    if (id === 'data') data = body;
    off += 8 + size + (size % 2);
  }
  if (!fmt || !data) throw new Error(`${file} lacks fmt or data`);
  const frames = Math.floor(data.length / (2 * fmt.channels));
  const sum = new Array<number>(fmt.channels).fill(0);
  const perFrame = fmt.sampleRate / 50;
  const active = new Array<number>(fmt.channels).fill(0);
  const windowSum = new Array<number>(fmt.channels).fill(0);
  let windows = 0;
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < fmt.channels; c++) {
      const v = data.readInt16LE((i * fmt.channels + c) * 2);
      sum[c]! += v * v;
      windowSum[c]! += v * v;
    }
    if ((i + 1) % perFrame === 0) {
      windows++;
      for (let c = 0; c < fmt.channels; c++) {
        if (Math.sqrt(windowSum[c]! / perFrame) > 300) active[c]!++;
        windowSum[c] = 0;
      }
    }
  }
  return {
    channels: fmt.channels,
    sampleRate: fmt.sampleRate,
    bitsPerSample: fmt.bits,
    seconds: frames / fmt.sampleRate,
    rms: sum.map((s) => Math.sqrt(s / Math.max(1, frames))),
    activeShare: active.map((a) => a / Math.max(1, windows)),
  };
}
