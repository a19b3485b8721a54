// The media tests run against both engines: in-process (UdpMediaEngine) and on worker threads
// (ThreadedMediaEngine, what Kefu runs by default), so both keep the same contract.
import type { MonitoredMediaEngine } from '../../src/adapters/media/media-port.ts';
import { ThreadedMediaEngine } from '../../src/adapters/media/threaded/threaded-media-engine.ts';
import { UdpMediaEngine } from '../../src/adapters/media/udp-media-engine.ts';

export interface EngineRange {
  portMin: number;
  portMax: number;
  /** Where the engine's warnings go (a worker's reach the main thread as warnings too). */
  logger?: { warn(context: unknown, message?: string): void; error(context: unknown, message?: string): void };
}

export type EngineFactory = (range: EngineRange) => MonitoredMediaEngine;

export const engines: [string, EngineFactory][] = [
  ['in-process', (r) => new UdpMediaEngine({ bindAddress: '127.0.0.1', publicAddress: '127.0.0.1', ...r })],
  ['worker threads', (r) => new ThreadedMediaEngine({ bindAddress: '127.0.0.1', publicAddress: '127.0.0.1', ...r, threads: 2, statsIntervalMs: 20 })],
];

/** Brings stats() up to date: worker threads report counters asynchronously. */
export async function syncStats(engine: MonitoredMediaEngine): Promise<void> {
  if (engine instanceof ThreadedMediaEngine) await engine.syncStats();
}
