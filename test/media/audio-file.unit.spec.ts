import wavefile from 'wavefile';
import { describe, expect, it } from 'vitest';
import { AudioFormatError, checkWavHeader, decodeWavTo8kMono, encodeWav8kMono } from '../../src/adapters/media/audio-file.ts';
import { holdMusic } from '../../src/adapters/media/hold-music.ts';
import { powerAt, rms } from './rtp-peer.ts';

function sine(frequency: number, rate: number, seconds: number, amplitude: number): number[] {
  return Array.from({ length: Math.round(rate * seconds) }, (_, i) => Math.round(amplitude * Math.sin((2 * Math.PI * frequency * i) / rate)));
}

function wav(channels: number, rate: number, bitDepth: string, samples: number[] | number[][]): Uint8Array {
  const file = new wavefile.WaveFile();
  file.fromScratch(channels, rate, bitDepth, samples);
  return file.toBuffer();
}

describe('decodeWavTo8kMono', () => {
  it('turns 16 kHz stereo 16-bit into 8 kHz mono, averaging the channels and keeping the tone', () => {
    const left = sine(500, 16000, 1, 10000);
    const right = sine(500, 16000, 1, 6000);
    const out = decodeWavTo8kMono(wav(2, 16000, '16', [left, right]));
    expect(out).toBeInstanceOf(Int16Array);
    expect(Math.abs(out.length - 8000)).toBeLessThanOrEqual(2);
    // Average of the channels: amplitude 8000, RMS 8000/sqrt(2).
    expect(rms(out.subarray(400, 7600))).toBeGreaterThan(5300);
    expect(rms(out.subarray(400, 7600))).toBeLessThan(6000);
    expect(powerAt(out, 500)).toBeGreaterThan(100 * powerAt(out, 1500));
  });

  it('filters what 8 kHz cannot carry instead of folding it back (a 6 kHz tone at 48 kHz mostly disappears)', () => {
    const out = decodeWavTo8kMono(wav(1, 48000, '16', sine(6000, 48000, 0.5, 10000)));
    expect(rms(out.subarray(200, out.length - 200))).toBeLessThan(1000);
  });

  it('decodes a mu-law WAV', () => {
    const file = new wavefile.WaveFile();
    file.fromScratch(1, 8000, '16', sine(440, 8000, 0.5, 12000));
    file.toMuLaw();
    expect((file.fmt as { audioFormat: number }).audioFormat).toBe(7);
    const out = decodeWavTo8kMono(file.toBuffer());
    expect(out.length).toBe(4000);
    expect(rms(out)).toBeGreaterThan(8000);
    expect(powerAt(out, 440)).toBeGreaterThan(100 * powerAt(out, 1000));
  });

  it('decodes 24-bit and 32-bit float PCM', () => {
    const int24 = decodeWavTo8kMono(wav(1, 8000, '24', sine(440, 8000, 0.2, 4_000_000)));
    expect(rms(int24)).toBeGreaterThan(15000 / Math.SQRT2);
    const float = decodeWavTo8kMono(wav(1, 22050, '32f', sine(440, 22050, 0.2, 16384).map((s) => s / 32768)));
    expect(rms(float.subarray(100, float.length - 100))).toBeGreaterThan(10000);
  });

  it('round-trips through encodeWav8kMono', () => {
    const samples = Int16Array.from(sine(300, 8000, 0.1, 9000));
    expect(decodeWavTo8kMono(encodeWav8kMono(samples))).toEqual(samples);
  });

  it.each([
    ['empty bytes', new Uint8Array(0), /audio is empty/],
    ['an MP3 file', Uint8Array.from([0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), /must be a WAV file \(RIFF\/WAVE\); got an MP3 file/],
    ['text', new TextEncoder().encode('this is not audio at all'), /must be a WAV file.*got bytes starting 74 68 69 73/],
    ['an AVI file', new TextEncoder().encode('RIFF\u0000\u0000\u0000\u0000AVI LIST'), /RIFF file of type "AVI "/],
  ])('refuses %s with AudioFormatError', (_name, bytes, message) => {
    expect(() => decodeWavTo8kMono(bytes)).toThrowError(AudioFormatError);
    expect(() => decodeWavTo8kMono(bytes)).toThrowError(message);
  });

  it('refuses a WAV with no samples', () => {
    expect(() => decodeWavTo8kMono(wav(1, 8000, '16', []))).toThrowError(/audio is empty/);
  });

  it('refuses audio longer than maxSeconds', () => {
    const threeSeconds = wav(1, 8000, '16', sine(440, 8000, 3, 1000));
    expect(() => decodeWavTo8kMono(threeSeconds, { maxSeconds: 2 })).toThrowError(AudioFormatError);
    expect(() => decodeWavTo8kMono(threeSeconds, { maxSeconds: 2 })).toThrowError(/3\.0 s long; at most 2 s/);
    expect(decodeWavTo8kMono(threeSeconds, { maxSeconds: 3 }).length).toBe(24000);
  });

  it('refuses a WAV encoding it cannot decode, naming the format code', () => {
    const bytes = wav(1, 8000, '16', sine(440, 8000, 0.1, 1000));
    new DataView(bytes.buffer, bytes.byteOffset).setUint16(20, 0x55, true); // MPEG layer 3 in a WAV
    expect(() => decodeWavTo8kMono(bytes)).toThrowError(/unsupported WAV encoding \(format code 85\)/);
  });
});

describe('checkWavHeader', () => {
  const forged = (edit: (view: DataView) => void) => {
    const bytes = wav(1, 8000, '16', sine(440, 8000, 1, 1000));
    edit(new DataView(bytes.buffer, bytes.byteOffset));
    return bytes;
  };

  it('reads rate, channels, encoding and duration from the chunks, past chunks it does not know', () => {
    const plain = wav(2, 16000, '16', [sine(440, 16000, 0.5, 1000), sine(440, 16000, 0.5, 1000)]);
    // A LIST chunk before fmt, as many editors write.
    const list = new Uint8Array([...new TextEncoder().encode('LIST'), 5, 0, 0, 0, 1, 2, 3, 4, 5, 0]);
    const withList = new Uint8Array([...plain.subarray(0, 12), ...list, ...plain.subarray(12)]);
    for (const bytes of [plain, withList]) {
      expect(checkWavHeader(bytes)).toMatchObject({ format: 1, channels: 2, sampleRate: 16000, bitsPerSample: 16, dataBytes: 32000, seconds: 0.5 });
    }
  });

  it('counts the samples the file holds, not what its header claims', () => {
    const cut = wav(1, 8000, '16', sine(440, 8000, 2, 1000)).subarray(0, 44 + 8000);
    expect(checkWavHeader(cut).seconds).toBe(0.5);
  });

  it.each([
    ['1 Hz', forged((v) => v.setUint32(24, 1, true)), /sample rate is 1 Hz; expected 8000 to 192000 Hz/],
    ['4 GHz', forged((v) => v.setUint32(24, 4_000_000_000, true)), /sample rate is 4000000000 Hz/],
    ['64 channels', forged((v) => v.setUint16(22, 64, true)), /64 channels; at most 8/],
    ['0 bits per sample', forged((v) => v.setUint16(34, 0, true)), /0 bits per sample/],
    ['no fmt chunk', forged((v) => v.setUint32(12, 0x666d7478, false)), /no fmt chunk/],
  ])('refuses a header claiming %s, before decoding anything', (_name, bytes, message) => {
    const started = performance.now();
    expect(() => decodeWavTo8kMono(bytes)).toThrowError(message);
    expect(() => checkWavHeader(bytes)).toThrowError(AudioFormatError);
    expect(performance.now() - started).toBeLessThan(200);
  });
});

describe('holdMusic', () => {
  it('is a few seconds of audible 8 kHz audio that starts and ends quietly (a clean loop)', () => {
    const music = holdMusic();
    expect(music.length / 8000).toBeGreaterThanOrEqual(3);
    expect(music.length / 8000).toBeLessThanOrEqual(15);
    expect(rms(music)).toBeGreaterThan(1000);
    expect(Math.abs(music[0]!)).toBeLessThan(200);
    expect(Math.abs(music[music.length - 1]!)).toBeLessThan(200);
    expect(holdMusic()).toBe(music);
  });
});
