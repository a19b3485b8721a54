// A prompt recording (PH-15): uploaded once as 8 kHz mono WAV, played by flows, deleted when no flow
// needs it. One stream per file: `audio-<instanceId>.<audioId>`. The bytes live in file storage.
import type { DomainEvent } from '../decider.ts';

export interface AudioFileFacts {
  audioId: string;
  name: string;
  durationMs: number;
  sampleRate: number;
  sizeBytes: number;
}

export type AudioFileEvent = DomainEvent<'AudioUploaded', AudioFileFacts> | DomainEvent<'AudioDeleted', Record<string, never>>;

export type AudioFileState = { status: 'none' } | ({ status: 'active' } & AudioFileFacts) | { status: 'deleted'; audioId: string };

export const initialAudioFileState = (): AudioFileState => ({ status: 'none' });

export function evolveAudioFile(state: AudioFileState, event: AudioFileEvent): AudioFileState {
  switch (event.type) {
    case 'AudioUploaded':
      return { status: 'active', ...event.data };
    case 'AudioDeleted':
      return state.status === 'active' ? { status: 'deleted', audioId: state.audioId } : state;
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}
