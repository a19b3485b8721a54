import type { CommandMetadata } from '../decider.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { ActiveWebhook, WebhookEvent, WebhookEventKind, WebhookState } from './webhook.ts';
import { evolveWebhook, initialWebhookState, maxPauseReasonLength, normalizeWebhookUrl, webhookEventKindNames } from './webhook.ts';

export type WebhookCommand =
  | {
      type: 'CreateWebhook';
      /** secretSalt is a random value the caller drew (decide stays pure). */
      data: { webhookId: string; url: string; eventKinds: string[]; secretSalt: string };
      metadata: CommandMetadata;
    }
  | { type: 'UpdateWebhook'; data: { webhookId: string; url?: string; eventKinds?: string[] }; metadata: CommandMetadata }
  | { type: 'RotateWebhookSecret'; data: { webhookId: string; secretSalt: string }; metadata: CommandMetadata }
  | { type: 'PauseWebhook'; data: { webhookId: string; reason: string }; metadata: CommandMetadata }
  | { type: 'ResumeWebhook'; data: { webhookId: string }; metadata: CommandMetadata }
  | { type: 'DeleteWebhook'; data: { webhookId: string }; metadata: CommandMetadata };

function active(state: WebhookState, id: string): ActiveWebhook {
  if (state.status !== 'active') throw new NotFoundError('Webhook', id);
  return state;
}

function checkUrl(value: string): string {
  const n = normalizeWebhookUrl(value);
  if ('problem' in n) throw new ValidationError('url', n.problem);
  return n.url;
}

/** Known kinds, each once, in the order of webhookEventKindNames; at least one. */
export function checkEventKinds(kinds: string[]): WebhookEventKind[] {
  kinds.forEach((k, i) => {
    if (!(webhookEventKindNames as string[]).includes(k)) throw new ValidationError(`eventKinds.${i}`, `must be one of ${webhookEventKindNames.join(', ')}`);
  });
  const out = webhookEventKindNames.filter((k) => kinds.includes(k));
  if (out.length === 0) throw new ValidationError('eventKinds', 'must name at least one kind');
  return out;
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

export function decideWebhook(command: WebhookCommand, state: WebhookState): WebhookEvent[] {
  switch (command.type) {
    case 'CreateWebhook': {
      const d = command.data;
      if (state.status !== 'none') throw new ConflictError(`Webhook ${d.webhookId} already exists`);
      return [{ type: 'WebhookCreated', data: { webhookId: d.webhookId, url: checkUrl(d.url), eventKinds: checkEventKinds(d.eventKinds), secretSalt: d.secretSalt } }];
    }
    case 'UpdateWebhook': {
      const hook = active(state, command.data.webhookId);
      const changes: { url?: string; eventKinds?: WebhookEventKind[] } = {};
      if (command.data.url !== undefined) {
        const url = checkUrl(command.data.url);
        if (url !== hook.url) changes.url = url;
      }
      if (command.data.eventKinds !== undefined) {
        const kinds = checkEventKinds(command.data.eventKinds);
        if (!sameList(kinds, hook.eventKinds)) changes.eventKinds = kinds;
      }
      return Object.keys(changes).length === 0 ? [] : [{ type: 'WebhookUpdated', data: changes }];
    }
    case 'RotateWebhookSecret':
      active(state, command.data.webhookId);
      return [{ type: 'WebhookSecretRotated', data: { secretSalt: command.data.secretSalt } }];
    case 'PauseWebhook': {
      const hook = active(state, command.data.webhookId);
      if (hook.paused) return [];
      const reason = command.data.reason.trim().slice(0, maxPauseReasonLength) || 'paused';
      return [{ type: 'WebhookPaused', data: { reason, at: command.metadata.now } }];
    }
    case 'ResumeWebhook': {
      const hook = active(state, command.data.webhookId);
      return hook.paused ? [{ type: 'WebhookResumed', data: { at: command.metadata.now } }] : [];
    }
    case 'DeleteWebhook':
      if (state.status === 'deleted') return [];
      active(state, command.data.webhookId);
      return [{ type: 'WebhookDeleted', data: {} }];
    default: {
      const unknown: never = command;
      throw new Error(`Unknown command ${(unknown as { type: string }).type}`);
    }
  }
}

export const webhookDecider = { initialState: initialWebhookState, evolve: evolveWebhook, decide: decideWebhook };
