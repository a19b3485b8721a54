import type { CommandMetadata } from '../decider.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { ActiveWebChannel, WebChannelEvent, WebChannelSettings, WebChannelState } from './web-channel.ts';
import { evolveWebChannel, initialWebChannelState, maxAllowedOrigins, normalizeOrigin } from './web-channel.ts';
import { applyReceptionPromptsChange, checkWorkHours, sameSettings, type ReceptionPromptsChange } from './reception-prompts.ts';
import { checkAvChannelSettings, type NamedGroups } from './av-settings.ts';

/** Issue 14: AV settings as an admin gave them (null: back to not configured), with what the caller found of their references. */
export type AvSettingsChange = { input: unknown; groups: NamedGroups; icons: readonly string[] } | null;

function avSettingsOf(change: AvSettingsChange) {
  return change === null ? null : checkAvChannelSettings(change.input, change.groups, (id) => change.icons.includes(id));
}

/** The skill group a command names, as the caller found it in the instance: null when there is none. */
export type NamedSkillGroup = { id: string; channel: string } | null;
/** The flow a command names, as the caller found it in the instance: null when there is none. */
export type NamedFlow = { id: string; kind: string } | null;

export type WebChannelCommand =
  | {
      type: 'CreateWebChannel';
      /** publicKey and identitySecret are random values the caller drew (decide stays pure). */
      data: Omit<WebChannelSettings, 'skillGroupId' | 'receptionPrompts' | 'av'> & {
        webChannelId: string;
        publicKey: string;
        identitySecret: string;
        skillGroup: NamedSkillGroup;
        skillGroupId: string;
        flow?: NamedFlow;
        /** Issue 12: prompts changed from the defaults at creation. */
        receptionPrompts?: ReceptionPromptsChange;
        /** Issue 14: the AV buttons and visual menu. */
        avSettings?: AvSettingsChange;
      };
      metadata: CommandMetadata;
    }
  | {
      type: 'UpdateWebChannel';
      /** flowId null unbinds the flow. */
      data: Partial<Omit<WebChannelSettings, 'skillGroupId' | 'receptionPrompts' | 'av'>> & {
        webChannelId: string;
        skillGroupId?: string;
        skillGroup?: NamedSkillGroup;
        flow?: NamedFlow;
        enabled?: boolean;
        /** Issue 12: what changes in the prompts; the rest stays. workHours null: always open. */
        receptionPrompts?: ReceptionPromptsChange;
        /** Issue 14: new AV settings (null: not configured); absent: kept. */
        avSettings?: AvSettingsChange;
      };
      metadata: CommandMetadata;
    }
  | { type: 'RotateWebChannelSecret'; data: { webChannelId: string; identitySecret: string }; metadata: CommandMetadata }
  | { type: 'DeleteWebChannel'; data: { webChannelId: string }; metadata: CommandMetadata };

function active(state: WebChannelState, id: string): ActiveWebChannel {
  if (state.status !== 'active') throw new NotFoundError('Web channel', id);
  return state;
}

export function checkAllowedOrigins(origins: string[]): string[] {
  if (origins.length > maxAllowedOrigins) throw new ValidationError('allowedOrigins', `at most ${maxAllowedOrigins} origins`);
  const out: string[] = [];
  origins.forEach((o, i) => {
    const n = normalizeOrigin(o);
    if ('problem' in n) throw new ValidationError(`allowedOrigins.${i}`, n.problem);
    if (!out.includes(n.origin)) out.push(n.origin);
  });
  return out;
}

function checkName(name: string): string {
  const n = name.trim();
  if (n === '') throw new ValidationError('name', 'must not be empty');
  if (n.length > 200) throw new ValidationError('name', 'at most 200 characters');
  return n;
}

function checkSkillGroup(id: string, group: NamedSkillGroup | undefined): void {
  if (!group || group.id !== id) throw new ValidationError('skillGroupId', 'no such skill group');
  if (group.channel !== 'ONLINE') throw new ValidationError('skillGroupId', `chats need an ONLINE skill group; this one is ${group.channel}`);
}

function checkFlow(id: string, flow: NamedFlow | undefined): void {
  if (!flow || flow.id !== id) throw new ValidationError('flowId', 'no such flow');
  if (flow.kind !== 'CHAT') throw new ValidationError('flowId', `a web channel runs a CHAT flow; this one is ${flow.kind}`);
}

function checkWelcomeText(text: string | null): string | null {
  if (text === null) return null;
  if (text.length > 1000) throw new ValidationError('welcomeText', 'at most 1000 characters');
  return text.trim() === '' ? null : text;
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

export function decideWebChannel(command: WebChannelCommand, state: WebChannelState): WebChannelEvent[] {
  switch (command.type) {
    case 'CreateWebChannel': {
      const d = command.data;
      if (state.status !== 'none') throw new ConflictError(`Web channel ${d.webChannelId} already exists`);
      const name = checkName(d.name);
      const allowedOrigins = checkAllowedOrigins(d.allowedOrigins);
      checkSkillGroup(d.skillGroupId, d.skillGroup);
      const flowId = d.flowId ?? null;
      if (flowId !== null) checkFlow(flowId, d.flow);
      let welcomeText = checkWelcomeText(d.welcomeText);
      const prompts = d.receptionPrompts ? applyReceptionPromptsChange(null, d.receptionPrompts) : null;
      if (prompts && prompts.welcomeText !== undefined) welcomeText = prompts.welcomeText;
      const workHours = d.workHours ? checkWorkHours(d.workHours) : null;
      const av = avSettingsOf(d.avSettings ?? null);
      return [
        {
          type: 'WebChannelCreated',
          data: {
            webChannelId: d.webChannelId,
            name,
            publicKey: d.publicKey,
            allowedOrigins,
            skillGroupId: d.skillGroupId,
            welcomeText,
            identitySecret: d.identitySecret,
            ...(flowId === null ? {} : { flowId }),
            ...(prompts ? { receptionPrompts: prompts.settings } : {}),
            ...(workHours ? { workHours } : {}),
            ...(av ? { av } : {}),
          },
        },
      ];
    }
    case 'UpdateWebChannel': {
      const channel = active(state, command.data.webChannelId);
      const d = command.data;
      const changes: Partial<WebChannelSettings> & { enabled?: boolean } = {};
      if (d.name !== undefined) {
        const name = checkName(d.name);
        if (name !== channel.name) changes.name = name;
      }
      if (d.allowedOrigins !== undefined) {
        const origins = checkAllowedOrigins(d.allowedOrigins);
        if (!sameList(origins, channel.allowedOrigins)) changes.allowedOrigins = origins;
      }
      if (d.skillGroupId !== undefined && d.skillGroupId !== channel.skillGroupId) {
        checkSkillGroup(d.skillGroupId, d.skillGroup);
        changes.skillGroupId = d.skillGroupId;
      }
      if (d.welcomeText !== undefined) {
        const welcomeText = checkWelcomeText(d.welcomeText);
        if (welcomeText !== channel.welcomeText) changes.welcomeText = welcomeText;
      }
      if (d.flowId !== undefined && d.flowId !== (channel.flowId ?? null)) {
        if (d.flowId !== null) checkFlow(d.flowId, d.flow);
        changes.flowId = d.flowId;
      }
      if (d.enabled !== undefined && d.enabled !== channel.enabled) changes.enabled = d.enabled;
      if (d.receptionPrompts !== undefined) {
        const prompts = applyReceptionPromptsChange(channel.receptionPrompts, d.receptionPrompts);
        if (!sameSettings(channel.receptionPrompts, prompts.settings)) changes.receptionPrompts = prompts.settings;
        const welcomeText = prompts.welcomeText === undefined ? undefined : checkWelcomeText(prompts.welcomeText);
        if (welcomeText !== undefined && welcomeText !== channel.welcomeText) changes.welcomeText = welcomeText;
      }
      if (d.workHours !== undefined) {
        const workHours = d.workHours === null ? null : checkWorkHours(d.workHours);
        if (JSON.stringify(workHours) !== JSON.stringify(channel.workHours ?? null)) changes.workHours = workHours;
      }
      if (d.avSettings !== undefined) {
        const av = avSettingsOf(d.avSettings);
        if (JSON.stringify(av) !== JSON.stringify(channel.av ?? null)) changes.av = av;
      }
      return Object.keys(changes).length === 0 ? [] : [{ type: 'WebChannelUpdated', data: changes }];
    }
    case 'RotateWebChannelSecret': {
      active(state, command.data.webChannelId);
      return [{ type: 'WebChannelSecretRotated', data: { identitySecret: command.data.identitySecret } }];
    }
    case 'DeleteWebChannel': {
      if (state.status === 'deleted') return [];
      active(state, command.data.webChannelId);
      return [{ type: 'WebChannelDeleted', data: {} }];
    }
    default: {
      const unknown: never = command;
      throw new Error(`Unknown command ${(unknown as { type: string }).type}`);
    }
  }
}

export const webChannelDecider = { initialState: initialWebChannelState, evolve: evolveWebChannel, decide: decideWebChannel };
