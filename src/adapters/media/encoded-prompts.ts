import { encodeG711 } from './g711.ts';
import type { Codec } from './sdp.ts';

/**
 * A prompt is encoded once per codec and shared by every leg that plays it (hold music on a hundred calls
 * costs one encoding). Keyed by the Int16Array itself, so a garbage-collected prompt drops its encodings.
 */
const cache = new WeakMap<Int16Array, Partial<Record<Codec, Uint8Array>>>();

export function encodedPrompt(audio: Int16Array, codec: Codec): Uint8Array {
  let entry = cache.get(audio);
  if (!entry) {
    entry = {};
    cache.set(audio, entry);
  }
  return (entry[codec] ??= encodeG711(codec, audio));
}
