// The audio a prompt plays: an uploaded recording or text spoken by the TTS engine, decoded once and kept
// in a small in-memory cache (a busy IVR plays the same greeting thousands of times an hour).
import type { TextToSpeech } from '../../adapters/media/text-to-speech.ts';
import type { Prompt } from '../../domain/flow/flow-document.ts';

export class PromptAudio {
  private readonly cache = new Map<string, Promise<Int16Array>>();
  private readonly loadUploaded: (instanceId: string, audioId: string) => Promise<Int16Array | null>;
  private readonly tts: TextToSpeech;
  private readonly maxEntries: number;

  constructor(o: { loadUploaded: (instanceId: string, audioId: string) => Promise<Int16Array | null>; tts: TextToSpeech; maxEntries?: number }) {
    this.loadUploaded = o.loadUploaded;
    this.tts = o.tts;
    this.maxEntries = o.maxEntries ?? 200;
  }

  /** 8 kHz mono samples; a prompt whose file was deleted plays as a short silence rather than failing the call. */
  get(instanceId: string, prompt: Prompt): Promise<Int16Array> {
    const key = 'audioId' in prompt ? `a:${instanceId}:${prompt.audioId}` : `t:${prompt.voice ?? ''}:${prompt.text}`;
    let hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    hit = ('audioId' in prompt
      ? this.loadUploaded(instanceId, prompt.audioId).then((a) => a ?? new Int16Array(1600))
      : this.tts.synthesize(prompt.text, prompt.voice ? { voice: prompt.voice } : undefined)
    ).catch((err: unknown) => {
      this.cache.delete(key);
      throw err;
    });
    this.cache.set(key, hit);
    if (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    return hit;
  }
}
