import type { CommandMetadata } from '../decider.ts';
import { ConflictError, ValidationError } from '../errors.ts';
import { evolveChatFile, initialChatFileState, type ChatFileEvent, type ChatFileFacts, type ChatFileState } from './chat-file.ts';

export type ChatFileCommand = { type: 'StoreChatFile'; data: ChatFileFacts; metadata: CommandMetadata };

function storeChatFile(command: Extract<ChatFileCommand, { type: 'StoreChatFile' }>, state: ChatFileState): ChatFileEvent[] {
  const d = command.data;
  if (state.status === 'stored') {
    // The same upload again (a retried append): nothing new. Another file under the same id: a conflict.
    if (state.sha256 === d.sha256 && state.contactId === d.contactId) return [];
    throw new ConflictError(`Chat file ${d.fileId} already exists`);
  }
  if (d.name.trim() === '') throw new ValidationError('name', 'must not be empty');
  if (!Number.isInteger(d.bytes) || d.bytes <= 0) throw new ValidationError('bytes', 'must be a positive whole number');
  if ((d.width === null) !== (d.height === null)) throw new ValidationError('width', 'width and height come together');
  return [{ type: 'ChatFileStored', data: { ...d, name: d.name.trim() } }];
}

export function decideChatFile(command: ChatFileCommand, state: ChatFileState): ChatFileEvent[] {
  switch (command.type) {
    case 'StoreChatFile':
      return storeChatFile(command, state);
    default: {
      const unknown: never = command.type;
      throw new Error(`Unknown command ${String(unknown)}`);
    }
  }
}

export const chatFileDecider = { initialState: initialChatFileState, evolve: evolveChatFile, decide: decideChatFile };
