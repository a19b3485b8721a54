// A file sent in a chat (OL-15): uploaded once by the chat's customer or its agent, its type detected from
// its content, images stripped of metadata. One stream per file, `chatfile-<instanceId>.<fileId>`; the
// bytes (and an image's thumbnail) live in file storage, written before the event is appended.
import type { DomainEvent } from '../decider.ts';

export interface ChatFileFacts {
  fileId: string;
  /** The chat it was uploaded to: it can be sent in that chat only. */
  contactId: string;
  name: string;
  /** Detected from the content. */
  contentType: string;
  bytes: number;
  width: number | null;
  height: number | null;
  /** The thumbnail's type (image/jpeg or image/png), or null when there is none. */
  thumbnailType: string | null;
  /** Hex SHA-256 of the stored bytes. */
  sha256: string;
  uploadedBy: { kind: 'CUSTOMER'; customerId: string } | { kind: 'AGENT'; agentId: string };
  at: string;
}

export type ChatFileEvent = DomainEvent<'ChatFileStored', ChatFileFacts>;

export type ChatFileState = { status: 'none' } | ({ status: 'stored' } & ChatFileFacts);

export const initialChatFileState = (): ChatFileState => ({ status: 'none' });

export function evolveChatFile(state: ChatFileState, event: ChatFileEvent): ChatFileState {
  switch (event.type) {
    case 'ChatFileStored':
      return { status: 'stored', ...event.data };
    default: {
      const unknown: never = event.type;
      return unknown;
    }
  }
}
