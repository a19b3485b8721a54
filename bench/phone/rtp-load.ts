// The RTP load generator: worker threads (bench/phone/rtp-load-worker.ts) in the bench's own process, each
// with its share of the relayed calls. Used the same way for both relays: bind the sockets, set up the relay
// with their ports, start sending to the relay's ports, read the counters before and after a window.
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const workerPath = fileURLToPath(new URL('./rtp-load-worker.ts', import.meta.url));

class Thread {
  readonly worker = new Worker(workerPath);
  private queue: ((m: Record<string, unknown>) => void)[] = [];
  constructor() {
    this.worker.on('message', (m: Record<string, unknown>) => this.queue.shift()?.(m));
  }
  ask<T>(m: Record<string, unknown>): Promise<T> {
    return new Promise((resolve) => {
      this.queue.push(resolve as (m: Record<string, unknown>) => void);
      this.worker.postMessage(m);
    });
  }
}

export interface Pair {
  /** Generator ports of side A and side B. */
  a: number;
  b: number;
}

export class RtpLoad {
  private readonly threads: Thread[];
  private shares: number[] = [];

  constructor(threads: number) {
    this.threads = Array.from({ length: threads }, () => new Thread());
  }

  /** Binds 2 sockets per call; returns the pairs in call order. */
  async bind(calls: number): Promise<Pair[]> {
    this.shares = this.threads.map((_, i) => Math.floor(calls / this.threads.length) + (i < calls % this.threads.length ? 1 : 0));
    const replies = await Promise.all(this.threads.map((t, i) => t.ask<{ ports: number[] }>({ cmd: 'bind', count: this.shares[i] })));
    const pairs: Pair[] = [];
    for (const r of replies) for (let i = 0; i < r.ports.length; i += 2) pairs.push({ a: r.ports[i]!, b: r.ports[i + 1]! });
    return pairs;
  }

  /** `dests[i]`: where call i's side A and side B send (the relay's ports). */
  async start(dests: { toA: number; toB: number }[]): Promise<void> {
    let at = 0;
    await Promise.all(
      this.threads.map((t, i) => {
        const mine = dests.slice(at, at + this.shares[i]!);
        at += this.shares[i]!;
        return t.ask({ cmd: 'start', dests: mine.flatMap((d) => [d.toA, d.toB]) });
      }),
    );
  }

  async count(): Promise<{ sent: number; received: number }> {
    const r = await Promise.all(this.threads.map((t) => t.ask<{ sent: number; received: number }>({ cmd: 'count' })));
    return { sent: r.reduce((s, x) => s + x.sent, 0), received: r.reduce((s, x) => s + x.received, 0) };
  }

  /** Stops sending; counting goes on until stop(). */
  async halt(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.ask({ cmd: 'halt' })));
  }

  async stop(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.ask({ cmd: 'stop' })));
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}
