/** Prompts uploaded as WAV, turned into what the media engine plays: 8 kHz mono 16-bit PCM. */
import wavefile from 'wavefile';

const { WaveFile } = wavefile;
type WaveFileObject = InstanceType<typeof WaveFile>;

export class AudioFormatError extends Error {
  override name = 'AudioFormatError';
}

const TARGET_RATE = 8000;
const DEFAULT_MAX_SECONDS = 600;
/** Telephony prompts are never below 8 kHz; studio audio is at most 192 kHz. A rate outside is a forged header. */
export const MIN_SAMPLE_RATE = 8000;
export const MAX_SAMPLE_RATE = 192_000;
export const MAX_CHANNELS = 8;

const PCM = 1;
const IEEE_FLOAT = 3;
const A_LAW = 6;
const MU_LAW = 7;
const IMA_ADPCM = 17;
const EXTENSIBLE = 0xfffe;

interface Fmt {
  audioFormat: number;
  numChannels: number;
  sampleRate: number;
  bitsPerSample: number;
  subformat?: number[];
}

/**
 * Any PCM (8/16/24/32-bit integer or 32/64-bit float), mu-law, A-law or IMA ADPCM WAV, any channel count,
 * any sample rate -> 8 kHz mono PCM16 (channels averaged, low-pass filtered and resampled by wavefile).
 * Refuses non-WAV, other encodings, empty audio, and audio longer than maxSeconds (default 600).
 */
export function decodeWavTo8kMono(bytes: Uint8Array, options?: { maxSeconds?: number }): Int16Array {
  const maxSeconds = options?.maxSeconds ?? DEFAULT_MAX_SECONDS;
  const header = checkWavHeader(bytes, { maxSeconds });
  // Little-endian 16-bit PCM, by far the most common upload, read straight from the data chunk: wavefile's
  // per-sample conversions take seconds for a minute of 48 kHz stereo.
  if (header.format === PCM && header.bitsPerSample === 16 && header.littleEndian) {
    const frames = Math.floor(header.dataBytes / (2 * header.channels));
    const view = new DataView(bytes.buffer, bytes.byteOffset + header.dataOffset, frames * 2 * header.channels);
    if (header.channels === 1 && header.sampleRate === TARGET_RATE) {
      const out = new Int16Array(frames);
      for (let i = 0; i < frames; i++) out[i] = view.getInt16(i * 2, true);
      return out;
    }
    const mono = new Float64Array(frames);
    for (let i = 0, at = 0; i < frames; i++) {
      let sum = 0;
      for (let c = 0; c < header.channels; c++, at += 2) {
        const sample = view.getInt16(at, true);
        sum += sample > 0 ? sample / 32767 : sample / 32768; // wavefile's int-to-float scaling, undone by toPcm16
      }
      mono[i] = sum / header.channels;
    }
    return toPcm16(resampleTo8k(mono, header.sampleRate));
  }
  let wav: WaveFileObject;
  try {
    wav = new WaveFile(bytes);
  } catch (error) {
    throw new AudioFormatError(`audio is not a readable WAV file: ${error instanceof Error ? error.message : String(error)}`);
  }
  // A copy: wavefile rebuilds its header objects when converting.
  const fmt = { ...(wav.fmt as Fmt) };
  const data = (wav.data as { samples?: Uint8Array }).samples ?? new Uint8Array(0);
  if (!(fmt.numChannels >= 1) || !(fmt.sampleRate >= 1)) {
    throw new AudioFormatError(`WAV header is broken: ${fmt.numChannels} channels at ${fmt.sampleRate} Hz`);
  }
  const format = fmt.audioFormat === EXTENSIBLE ? (fmt.subformat?.[0] ?? 0) & 0xffff : fmt.audioFormat;
  const bitsPerSample = format === IMA_ADPCM ? 4 : fmt.bitsPerSample;
  const frames = Math.floor((data.length * 8) / (Math.max(1, bitsPerSample) * fmt.numChannels));
  if (frames === 0) throw new AudioFormatError('audio is empty (the WAV data chunk has no samples)');
  const seconds = frames / fmt.sampleRate;
  if (seconds > maxSeconds) {
    throw new AudioFormatError(`audio is ${seconds.toFixed(1)} s long; at most ${maxSeconds} s is accepted`);
  }

  // Already what we play (a stored prompt, the TTS cache): no conversion.
  if (format === PCM && fmt.bitsPerSample === 16 && fmt.numChannels === 1 && fmt.sampleRate === TARGET_RATE) {
    return wav.getSamples(false, Int16Array) as unknown as Int16Array;
  }
  try {
    toFloat(wav, format, fmt);
  } catch (error) {
    if (error instanceof AudioFormatError) throw error;
    throw new AudioFormatError(`cannot decode the WAV samples: ${error instanceof Error ? error.message : String(error)}`);
  }
  const mono = mixToMono(wav.getSamples(false, Float64Array) as Float64Array | Float64Array[]);
  return toPcm16(resampleTo8k(mono, fmt.sampleRate));
}

export interface WavHeader {
  /** The encoding: the format code, or the subformat's for WAVE_FORMAT_EXTENSIBLE. */
  format: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  /** Bytes of the data chunk that the file really holds (a header may claim more), from dataOffset. */
  dataBytes: number;
  dataOffset: number;
  littleEndian: boolean;
  seconds: number;
}

/**
 * Reads what a WAV file claims from its chunk headers alone and refuses, before any sample is decoded, what
 * would cost more than the audio is worth: a sample rate outside 8 to 192 kHz (a file "at 1 Hz" would be
 * resampled into hours of audio), more than 8 channels, no samples, or more than maxSeconds.
 */
export function checkWavHeader(bytes: Uint8Array, options?: { maxSeconds?: number }): WavHeader {
  const maxSeconds = options?.maxSeconds ?? DEFAULT_MAX_SECONDS;
  checkContainer(bytes);
  const header = readWavHeader(bytes);
  const { channels, sampleRate } = header;
  if (!(channels >= 1) || !(sampleRate >= 1)) throw new AudioFormatError(`WAV header is broken: ${channels} channels at ${sampleRate} Hz`);
  if (sampleRate < MIN_SAMPLE_RATE || sampleRate > MAX_SAMPLE_RATE) {
    throw new AudioFormatError(`WAV sample rate is ${sampleRate} Hz; expected ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE} Hz`);
  }
  if (channels > MAX_CHANNELS) throw new AudioFormatError(`WAV has ${channels} channels; at most ${MAX_CHANNELS} are accepted`);
  if (header.bitsPerSample < 1 || header.bitsPerSample > 64) throw new AudioFormatError(`WAV header is broken: ${header.bitsPerSample} bits per sample`);
  if (header.seconds === 0) throw new AudioFormatError('audio is empty (the WAV data chunk has no samples)');
  if (header.seconds > maxSeconds) throw new AudioFormatError(`audio is ${header.seconds.toFixed(1)} s long; at most ${maxSeconds} s is accepted`);
  return header;
}

/** Walks the RIFF chunks for `fmt ` and `data` (and RF64's `ds64`, which holds the real data size). */
function readWavHeader(bytes: Uint8Array): WavHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = ascii(bytes, 0, 4) !== 'RIFX';
  let fmt: Omit<WavHeader, 'dataBytes' | 'dataOffset' | 'littleEndian' | 'seconds'> | null = null;
  let dataBytes: number | null = null;
  let dataOffset = bytes.length;
  let ds64DataBytes: number | null = null;
  for (let offset = 12; offset + 8 <= bytes.length; ) {
    const id = ascii(bytes, offset, offset + 4);
    const size = view.getUint32(offset + 4, little);
    const body = offset + 8;
    const available = Math.max(0, Math.min(size, bytes.length - body));
    if (id === 'ds64' && available >= 16) ds64DataBytes = Number(view.getBigUint64(body + 8, little));
    else if (id === 'fmt ') {
      if (available < 16) throw new AudioFormatError('WAV header is broken: the fmt chunk is shorter than 16 bytes');
      const audioFormat = view.getUint16(body, little);
      const format = audioFormat === EXTENSIBLE && available >= 26 ? view.getUint16(body + 24, little) : audioFormat;
      const bitsPerSample = view.getUint16(body + 14, little);
      fmt = { format, channels: view.getUint16(body + 2, little), sampleRate: view.getUint32(body + 4, little), bitsPerSample: format === IMA_ADPCM ? 4 : bitsPerSample };
    } else if (id === 'data') {
      dataBytes = Math.min(size === 0xffffffff && ds64DataBytes !== null ? ds64DataBytes : size, bytes.length - body);
      dataOffset = body;
      break;
    }
    offset = body + size + (size % 2); // chunks are padded to an even length
  }
  if (!fmt) throw new AudioFormatError('WAV header is broken: it has no fmt chunk before its data');
  const data = dataBytes ?? 0;
  const frames = fmt.bitsPerSample >= 1 && fmt.channels >= 1 ? Math.floor((data * 8) / (fmt.bitsPerSample * fmt.channels)) : 0;
  return { ...fmt, dataBytes: data, dataOffset, littleEndian: little, seconds: fmt.sampleRate >= 1 ? frames / fmt.sampleRate : 0 };
}

/** 8 kHz mono 16-bit PCM WAV bytes, e.g. to store a converted prompt. */
export function encodeWav8kMono(samples: Int16Array): Uint8Array {
  const wav = new WaveFile();
  wav.fromScratch(1, TARGET_RATE, '16', samples);
  return wav.toBuffer();
}

function checkContainer(bytes: Uint8Array): void {
  if (!(bytes instanceof Uint8Array)) throw new AudioFormatError('audio must be bytes (a Uint8Array) of a WAV file');
  if (bytes.length === 0) throw new AudioFormatError('audio is empty (0 bytes); expected a WAV file (RIFF/WAVE)');
  const riff = ascii(bytes, 0, 4);
  const wave = ascii(bytes, 8, 12);
  if ((riff !== 'RIFF' && riff !== 'RIFX' && riff !== 'RF64') || wave !== 'WAVE') {
    throw new AudioFormatError(`audio must be a WAV file (RIFF/WAVE); got ${describeContent(bytes)}`);
  }
}

function describeContent(bytes: Uint8Array): string {
  const start = ascii(bytes, 0, 4);
  if (start.startsWith('ID3') || (bytes[0] === 0xff && (bytes[1]! & 0xe0) === 0xe0)) return 'an MP3 file';
  if (start === 'OggS') return 'an Ogg file';
  if (start === 'fLaC') return 'a FLAC file';
  if (ascii(bytes, 4, 8) === 'ftyp') return 'an MP4/M4A file';
  if (start === 'RIFF') return `a RIFF file of type "${ascii(bytes, 8, 12)}"`;
  if (bytes.length < 12) return `only ${bytes.length} bytes`;
  const hex = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return `bytes starting ${hex}`;
}

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...bytes.subarray(start, end));
}

/** Converts the samples in place to 32-bit float in [-1, 1]. */
function toFloat(wav: WaveFileObject, format: number, fmt: Fmt): void {
  if (format === MU_LAW) wav.fromMuLaw('16');
  else if (format === A_LAW) wav.fromALaw('16');
  else if (format === IMA_ADPCM) wav.fromIMAADPCM('16');
  else if (format === IEEE_FLOAT && fmt.audioFormat === EXTENSIBLE) {
    // wavefile reads the bit depth from audioFormat, which for WAVE_FORMAT_EXTENSIBLE is not the encoding.
    if (fmt.bitsPerSample !== 32 && fmt.bitsPerSample !== 64) throw new AudioFormatError(`unsupported float WAV with ${fmt.bitsPerSample} bits per sample (expected 32 or 64)`);
    const internal = wav as unknown as { bitDepth: string; updateDataType_(): void };
    internal.bitDepth = fmt.bitsPerSample === 32 ? '32f' : '64';
    internal.updateDataType_();
  } else if (format === IEEE_FLOAT) {
    if (fmt.bitsPerSample !== 32 && fmt.bitsPerSample !== 64) throw new AudioFormatError(`unsupported float WAV with ${fmt.bitsPerSample} bits per sample (expected 32 or 64)`);
  } else if (format === PCM) {
    if (![8, 16, 24, 32].includes(fmt.bitsPerSample)) throw new AudioFormatError(`unsupported PCM WAV with ${fmt.bitsPerSample} bits per sample (expected 8, 16, 24 or 32)`);
  } else {
    throw new AudioFormatError(
      `unsupported WAV encoding (format code ${format}); expected PCM, IEEE float, mu-law, A-law or IMA ADPCM`,
    );
  }
  if (wav.bitDepth !== '32f') wav.toBitDepth('32f');
}

function mixToMono(samples: Float64Array | Float64Array[]): Float64Array {
  if (samples instanceof Float64Array) return samples;
  const channels = samples.length;
  const first = samples[0]!;
  if (channels === 1) return first;
  const mono = new Float64Array(first.length);
  for (const channel of samples) for (let i = 0; i < mono.length; i++) mono[i]! += channel[i]!;
  for (let i = 0; i < mono.length; i++) mono[i]! /= channels;
  return mono;
}

function resampleTo8k(mono: Float64Array, sampleRate: number): Float64Array {
  if (sampleRate === TARGET_RATE) return mono;
  const wav = new WaveFile();
  wav.fromScratch(1, sampleRate, '32f', mono);
  // Cubic interpolation; wavefile low-pass filters first when downsampling, so no aliasing.
  wav.toSampleRate(TARGET_RATE, { method: 'cubic', LPF: true });
  return wav.getSamples(false, Float64Array) as Float64Array;
}

function toPcm16(samples: Float64Array): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    // The inverse of wavefile's int-to-float scaling (positive / 32767, negative / 32768).
    const sample = samples[i]!;
    const s = Math.round(sample > 0 ? sample * 32767 : sample * 32768);
    out[i] = s > 32767 ? 32767 : s < -32768 ? -32768 : s;
  }
  return out;
}
