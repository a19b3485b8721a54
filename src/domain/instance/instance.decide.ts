import type { CommandMetadata } from '../decider.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { ActiveInstance, ApiKeyRole, InstanceEvent, InstanceState } from './instance.ts';
import { defaultBreakReasons, evolveInstance, initialInstanceState } from './instance.ts';
import { screenPopTemplateProblem } from '../screen-pop/screen-pop-url.ts';
import { defaultSatisfactionSurvey, scaleProblem, type ScaleEntry, type SurveyChannel } from './satisfaction.ts';
import { checkServiceLevelSeconds, checkTimeZone, defaultReportSettings } from './report-settings.ts';

/** HMAC keys shorter than this are guessable; the API generates 32 random bytes. */
const minScreenPopSecretLength = 32;

export type InstanceCommand =
  | { type: 'CreateInstance'; data: { instanceId: string; name: string; adminKey: { keyId: string; secretHash: string } }; metadata: CommandMetadata }
  | { type: 'SubmitQualification'; data: { companyName: string; registrationNumber: string; documents: string[] }; metadata: CommandMetadata }
  | { type: 'ReviewQualification'; data: { approve: boolean; reason: string | null }; metadata: CommandMetadata }
  | { type: 'PurchaseSeats'; data: { seats: number }; metadata: CommandMetadata }
  | { type: 'CreateApiKey'; data: { keyId: string; name: string; role: ApiKeyRole; secretHash: string }; metadata: CommandMetadata }
  | { type: 'RevokeApiKey'; data: { keyId: string }; metadata: CommandMetadata }
  | { type: 'ConfigureBreakReasons'; data: { reasons: string[] }; metadata: CommandMetadata }
  | { type: 'AssignAgentSeat'; data: { agentId: string; login: string }; metadata: CommandMetadata }
  | { type: 'ReleaseAgentSeat'; data: { agentId: string }; metadata: CommandMetadata }
  | { type: 'ChangeAgentLogin'; data: { agentId: string; login: string }; metadata: CommandMetadata }
  // A field left undefined keeps its current value; urlTemplate null turns screen pop off.
  | { type: 'ConfigureScreenPop'; data: { urlTemplate?: string | null; pinned?: boolean }; metadata: CommandMetadata }
  | { type: 'RotateScreenPopSecret'; data: { secret: string }; metadata: CommandMetadata }
  // Issue 12. A field left undefined keeps its current value (a channel left out keeps its switch).
  | { type: 'ConfigureSatisfactionSurvey'; data: { scale?: ScaleEntry[]; channels?: Partial<Record<SurveyChannel, boolean>> }; metadata: CommandMetadata }
  // Issue 15. A field left undefined keeps its current value.
  | { type: 'ConfigureReports'; data: { timeZone?: string; serviceLevelSeconds?: number }; metadata: CommandMetadata };

function active(state: InstanceState, instanceId: string): ActiveInstance {
  if (state.status !== 'active') throw new NotFoundError('Instance', instanceId);
  return state;
}

function loginTaken(state: ActiveInstance, login: string, exceptAgent?: string): boolean {
  const wanted = login.toLowerCase();
  for (const [agentId, l] of state.seatHolders) if (agentId !== exceptAgent && l.toLowerCase() === wanted) return true;
  return false;
}

export function decideInstance(command: InstanceCommand, state: InstanceState): InstanceEvent[] {
  const id = command.metadata.instanceId;
  switch (command.type) {
    case 'CreateInstance': {
      if (state.status !== 'none') throw new ConflictError(`Instance ${id} already exists`);
      return [
        { type: 'InstanceCreated', data: { instanceId: command.data.instanceId, name: command.data.name, breakReasons: defaultBreakReasons } },
        { type: 'ApiKeyCreated', data: { keyId: command.data.adminKey.keyId, name: 'admin', role: 'ADMIN', secretHash: command.data.adminKey.secretHash } },
      ];
    }
    case 'SubmitQualification': {
      const s = active(state, id);
      if (s.qualification === 'PENDING') throw new ConflictError('A qualification is already waiting for review');
      if (s.qualification === 'APPROVED') throw new ConflictError('The qualification is already approved');
      return [{ type: 'QualificationSubmitted', data: command.data }];
    }
    case 'ReviewQualification': {
      const s = active(state, id);
      if (s.qualification !== 'PENDING') throw new ConflictError(`There is no qualification waiting for review (status ${s.qualification})`);
      if (command.data.approve) return [{ type: 'QualificationApproved', data: { reason: command.data.reason } }];
      if (!command.data.reason) throw new ValidationError('reason', 'a rejection needs a reason');
      return [{ type: 'QualificationRejected', data: { reason: command.data.reason } }];
    }
    case 'PurchaseSeats': {
      const s = active(state, id);
      return [{ type: 'SeatsPurchased', data: { seats: command.data.seats, totalSeats: s.seats + command.data.seats } }];
    }
    case 'CreateApiKey': {
      const s = active(state, id);
      if (s.apiKeys.has(command.data.keyId)) return [];
      return [{ type: 'ApiKeyCreated', data: command.data }];
    }
    case 'RevokeApiKey': {
      const s = active(state, id);
      const key = s.apiKeys.get(command.data.keyId);
      if (!key) throw new NotFoundError('API key', command.data.keyId);
      if (key.revoked) return [];
      return [{ type: 'ApiKeyRevoked', data: { keyId: command.data.keyId } }];
    }
    case 'ConfigureBreakReasons': {
      const s = active(state, id);
      if (JSON.stringify(s.breakReasons) === JSON.stringify(command.data.reasons)) return [];
      return [{ type: 'BreakReasonsConfigured', data: { reasons: command.data.reasons } }];
    }
    case 'AssignAgentSeat': {
      const s = active(state, id);
      const held = s.seatHolders.get(command.data.agentId);
      if (held === command.data.login) return [];
      if (held !== undefined) throw new ConflictError(`Agent ${command.data.agentId} already holds a seat as ${held}`);
      if (loginTaken(s, command.data.login)) throw new ConflictError(`Login ${command.data.login} is already used by another agent`);
      if (s.seatHolders.size >= s.seats) {
        throw new ConflictError(`No free seat: ${s.seatHolders.size} of ${s.seats} seats are in use; purchase more seats first`);
      }
      return [{ type: 'AgentSeatAssigned', data: command.data }];
    }
    case 'ReleaseAgentSeat': {
      const s = active(state, id);
      const login = s.seatHolders.get(command.data.agentId);
      if (login === undefined) return [];
      return [{ type: 'AgentSeatReleased', data: { agentId: command.data.agentId, login } }];
    }
    case 'ChangeAgentLogin': {
      const s = active(state, id);
      const from = s.seatHolders.get(command.data.agentId);
      if (from === undefined) throw new NotFoundError('Agent', command.data.agentId);
      if (from === command.data.login) return [];
      if (loginTaken(s, command.data.login, command.data.agentId)) throw new ConflictError(`Login ${command.data.login} is already used by another agent`);
      return [{ type: 'AgentLoginChanged', data: { agentId: command.data.agentId, from, to: command.data.login } }];
    }
    case 'ConfigureScreenPop': {
      const s = active(state, id);
      const current = s.screenPop ?? { urlTemplate: null, pinned: false };
      const urlTemplate = command.data.urlTemplate === undefined ? current.urlTemplate : command.data.urlTemplate;
      const pinned = command.data.pinned ?? current.pinned;
      if (urlTemplate !== null && urlTemplate !== current.urlTemplate) {
        const problem = screenPopTemplateProblem(urlTemplate);
        if (problem) throw new ValidationError('urlTemplate', problem);
      }
      if (current.urlTemplate === urlTemplate && current.pinned === pinned) return [];
      return [{ type: 'ScreenPopConfigured', data: { urlTemplate, pinned } }];
    }
    case 'RotateScreenPopSecret': {
      const s = active(state, id);
      if (command.data.secret.length < minScreenPopSecretLength) throw new ValidationError('secret', `at least ${minScreenPopSecretLength} characters`);
      if (s.screenPop?.secret === command.data.secret) return [];
      return [{ type: 'ScreenPopSecretRotated', data: { secret: command.data.secret } }];
    }
    case 'ConfigureSatisfactionSurvey': {
      const s = active(state, id);
      const current = s.satisfaction ?? defaultSatisfactionSurvey;
      const scale = command.data.scale ? command.data.scale.map((e) => ({ value: e.value, label: e.label.trim() })) : current.scale;
      if (command.data.scale) {
        const problem = scaleProblem(scale);
        if (problem) throw new ValidationError(problem[0], problem[1]);
      }
      const wanted = command.data.channels ?? {};
      const channels = { ONLINE: wanted.ONLINE ?? current.channels.ONLINE, PHONE: wanted.PHONE ?? current.channels.PHONE, AV: wanted.AV ?? current.channels.AV };
      const next = { scale, channels };
      if (JSON.stringify(next) === JSON.stringify({ scale: current.scale, channels: current.channels })) return [];
      return [{ type: 'SatisfactionSurveyConfigured', data: next }];
    }
    case 'ConfigureReports': {
      const s = active(state, id);
      const current = s.reports ?? defaultReportSettings;
      const next = {
        timeZone: command.data.timeZone === undefined ? current.timeZone : checkTimeZone(command.data.timeZone, 'timeZone'),
        serviceLevelSeconds:
          command.data.serviceLevelSeconds === undefined ? current.serviceLevelSeconds : checkServiceLevelSeconds(command.data.serviceLevelSeconds, 'serviceLevelSeconds'),
      };
      if (s.reports && next.timeZone === current.timeZone && next.serviceLevelSeconds === current.serviceLevelSeconds) return [];
      return [{ type: 'ReportSettingsConfigured', data: next }];
    }
    default: {
      const unknown: never = command;
      throw new Error(`Unknown command ${(unknown as { type: string }).type}`);
    }
  }
}

export const instanceDecider = { initialState: initialInstanceState, evolve: evolveInstance, decide: decideInstance };
