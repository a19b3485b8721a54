/**
 * A small jitter buffer of decoded samples for one recording channel. Packets arrive when the network
 * delivers them, the recorder takes 160 samples per clock tick: the queue waits until two frames are in
 * before giving any, gives silence when starved (a lost or late packet is silence in the file), and drops
 * the oldest samples beyond six frames so latency never grows.
 */
export class SampleQueue {
  private readonly buffer: Int16Array;
  private readonly primeSamples: number;
  private readIndex = 0;
  private size = 0;
  private primed = false;
  private closed = false;

  constructor(o: { capacity?: number; primeSamples?: number } = {}) {
    this.buffer = new Int16Array(o.capacity ?? 960);
    this.primeSamples = o.primeSamples ?? 320;
  }

  /** Stops taking samples (the recording ended; the relay may still run). */
  close(): void {
    this.closed = true;
    this.size = 0;
  }

  get length(): number {
    return this.size;
  }

  /** Decodes G.711 bytes[start, end) through a 256-entry table into the queue. */
  pushCoded(bytes: Uint8Array, start: number, end: number, table: Int16Array): void {
    if (this.closed) return;
    const buffer = this.buffer;
    const capacity = buffer.length;
    if (end - start > capacity) start = end - capacity;
    const overflow = this.size + (end - start) - capacity;
    if (overflow > 0) this.drop(overflow);
    let write = (this.readIndex + this.size) % capacity;
    for (let i = start; i < end; i++) {
      buffer[write] = table[bytes[i]!]!;
      if (++write === capacity) write = 0;
    }
    this.size += end - start;
  }

  /** Writes `count` samples to out[offset], out[offset + stride], ...: queued audio, else silence. */
  read(out: Int16Array, offset: number, stride: number, count: number): void {
    if (!this.primed && this.size >= this.primeSamples) this.primed = true;
    const available = this.primed ? Math.min(count, this.size) : 0;
    const buffer = this.buffer;
    const capacity = buffer.length;
    let read = this.readIndex;
    let o = offset;
    for (let i = 0; i < available; i++, o += stride) {
      out[o] = buffer[read]!;
      if (++read === capacity) read = 0;
    }
    for (let i = available; i < count; i++, o += stride) out[o] = 0;
    this.readIndex = read;
    this.size -= available;
    // Starved: wait for two frames again rather than play each late packet in pieces.
    if (available < count) this.primed = false;
  }

  private drop(count: number): void {
    this.readIndex = (this.readIndex + count) % this.buffer.length;
    this.size -= count;
  }
}
