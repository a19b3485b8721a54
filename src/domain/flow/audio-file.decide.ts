import type { CommandMetadata } from '../decider.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { AudioFileEvent, AudioFileFacts, AudioFileState } from './audio-file.ts';
import { evolveAudioFile, initialAudioFileState } from './audio-file.ts';

export type AudioFileCommand =
  | { type: 'RecordAudioUpload'; data: AudioFileFacts; metadata: CommandMetadata }
  /** `usedBy`: names of the flows whose current version plays the file, as the caller found them. */
  | { type: 'DeleteAudio'; data: { audioId: string; usedBy: string[] }; metadata: CommandMetadata };

export function decideAudioFile(command: AudioFileCommand, state: AudioFileState): AudioFileEvent[] {
  switch (command.type) {
    case 'RecordAudioUpload': {
      if (state.status !== 'none') throw new ConflictError(`Audio file ${command.data.audioId} already exists`);
      const name = command.data.name.trim();
      if (name === '') throw new ValidationError('name', 'must not be empty');
      return [{ type: 'AudioUploaded', data: { ...command.data, name } }];
    }
    case 'DeleteAudio': {
      if (state.status === 'deleted') return [];
      if (state.status !== 'active') throw new NotFoundError('Audio file', command.data.audioId);
      if (command.data.usedBy.length > 0) throw new ConflictError(`The audio file is played by flow ${command.data.usedBy.join(', ')}`);
      return [{ type: 'AudioDeleted', data: {} }];
    }
    default: {
      const unknown: never = command;
      throw new Error(`Unknown command ${(unknown as { type: string }).type}`);
    }
  }
}

export const audioFileDecider = { initialState: initialAudioFileState, evolve: evolveAudioFile, decide: decideAudioFile };
