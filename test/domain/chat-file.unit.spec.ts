import { describe, it } from 'vitest';
import { chatFileDecider, type ChatFileCommand } from '../../src/domain/chat-file/chat-file.decide.ts';
import type { ChatFileEvent, ChatFileFacts } from '../../src/domain/chat-file/chat-file.ts';
import { ConflictError, ValidationError } from '../../src/domain/errors.ts';
import { deciderSpec } from '../support/decider-spec.ts';

const spec = deciderSpec(chatFileDecider);
const metadata = { now: '2026-12-04T10:00:00.000Z', instanceId: 'inst-1', actor: 'customer:ch-1:v_x', correlationId: 'c-1' };
const facts: ChatFileFacts = {
  fileId: 'f-1',
  contactId: 'contact-1',
  name: 'photo.jpg',
  contentType: 'image/jpeg',
  bytes: 1234,
  width: 640,
  height: 480,
  thumbnailType: 'image/jpeg',
  sha256: 'ab'.repeat(32),
  uploadedBy: { kind: 'CUSTOMER', customerId: 'v_x' },
  at: metadata.now,
};
const store = (data: Partial<ChatFileFacts> = {}): ChatFileCommand => ({ type: 'StoreChatFile', data: { ...facts, ...data }, metadata });
const stored: ChatFileEvent = { type: 'ChatFileStored', data: facts };

describe('chat file', () => {
  describe('when nothing is stored under the id', () => {
    it('stores the file', () => spec.given([]).when(store()).then([stored]));
    it('trims the name', () => spec.given([]).when(store({ name: '  photo.jpg ' })).then([stored]));
    it('refuses an empty name, no bytes, or a width without a height', () => {
      spec.given([]).when(store({ name: '  ' })).thenThrows(ValidationError, /name/);
      spec.given([]).when(store({ bytes: 0 })).thenThrows(ValidationError, /bytes/);
      spec.given([]).when(store({ height: null })).thenThrows(ValidationError, /width/);
    });
  });
  describe('when a file is stored under the id', () => {
    it('the same upload again changes nothing', () => spec.given([stored]).when(store()).then([]));
    it('another file under the same id is a conflict', () => spec.given([stored]).when(store({ sha256: 'cd'.repeat(32) })).thenThrows(ConflictError, /already exists/));
  });
});
