import type { DomainEvent } from '../decider.ts';
import type { SatisfactionSurvey } from './satisfaction.ts';
import type { ReportSettingsValue } from './report-settings.ts';

export type QualificationStatus = 'NOT_SUBMITTED' | 'PENDING' | 'APPROVED' | 'REJECTED';
export type ApiKeyRole = 'ADMIN' | 'INTEGRATION';

export const defaultBreakReasons = ['Rest', 'Meal', 'Meeting', 'Training'];

export type InstanceEvent =
  | DomainEvent<'InstanceCreated', { instanceId: string; name: string; breakReasons: string[] }>
  | DomainEvent<'InstanceRenamed', { name: string }>
  | DomainEvent<'QualificationSubmitted', { companyName: string; registrationNumber: string; documents: string[] }>
  | DomainEvent<'QualificationApproved', { reason: string | null }>
  | DomainEvent<'QualificationRejected', { reason: string }>
  | DomainEvent<'SeatsPurchased', { seats: number; totalSeats: number }>
  | DomainEvent<'ApiKeyCreated', { keyId: string; name: string; role: ApiKeyRole; secretHash: string }>
  | DomainEvent<'ApiKeyRevoked', { keyId: string }>
  | DomainEvent<'BreakReasonsConfigured', { reasons: string[] }>
  | DomainEvent<'AgentSeatAssigned', { agentId: string; login: string }>
  | DomainEvent<'AgentSeatReleased', { agentId: string; login: string }>
  | DomainEvent<'AgentLoginChanged', { agentId: string; from: string; to: string }>
  | DomainEvent<'ScreenPopConfigured', { urlTemplate: string | null; pinned: boolean }>
  // The secret itself, not a hash: Kefu signs screen pop URLs with it (HMAC), so it must be able to read it.
  // Only rotateScreenPopSecret's answer ever shows it; the API never returns it again.
  | DomainEvent<'ScreenPopSecretRotated', { secret: string }>
  // Issue 12: the whole survey setting as it is now (scale and channel switches).
  | DomainEvent<'SatisfactionSurveyConfigured', SatisfactionSurvey>
  // Issue 15: the instance's report settings as they are now (time zone and default service-level threshold).
  | DomainEvent<'ReportSettingsConfigured', ReportSettingsValue>;

/** The CRM page offers open (urlTemplate null: none), and the key its URLs are signed with. */
export interface ScreenPopSetting {
  urlTemplate: string | null;
  pinned: boolean;
  secret: string | null;
}

export interface ActiveInstance {
  status: 'active';
  id: string;
  name: string;
  qualification: QualificationStatus;
  seats: number;
  /** agentId → login of every agent holding a seat (created and not deleted). */
  seatHolders: Map<string, string>;
  apiKeys: Map<string, { role: ApiKeyRole; revoked: boolean }>;
  breakReasons: string[];
  /** Absent until screen pop is first configured or its secret first rotated. */
  screenPop?: ScreenPopSetting;
  /** Absent until first configured: defaultSatisfactionSurvey. */
  satisfaction?: SatisfactionSurvey;
  /** Absent until first configured: defaultReportSettings. */
  reports?: ReportSettingsValue;
}

export type InstanceState = { status: 'none' } | ActiveInstance;

export const initialInstanceState = (): InstanceState => ({ status: 'none' });

export function evolveInstance(state: InstanceState, event: InstanceEvent): InstanceState {
  if (event.type === 'InstanceCreated') {
    return {
      status: 'active',
      id: event.data.instanceId,
      name: event.data.name,
      qualification: 'NOT_SUBMITTED',
      seats: 0,
      seatHolders: new Map(),
      apiKeys: new Map(),
      breakReasons: event.data.breakReasons,
    };
  }
  if (state.status !== 'active') return state;
  switch (event.type) {
    case 'InstanceRenamed':
      return { ...state, name: event.data.name };
    case 'QualificationSubmitted':
      return { ...state, qualification: 'PENDING' };
    case 'QualificationApproved':
      return { ...state, qualification: 'APPROVED' };
    case 'QualificationRejected':
      return { ...state, qualification: 'REJECTED' };
    case 'SeatsPurchased':
      return { ...state, seats: event.data.totalSeats };
    case 'ApiKeyCreated': {
      const apiKeys = new Map(state.apiKeys);
      apiKeys.set(event.data.keyId, { role: event.data.role, revoked: false });
      return { ...state, apiKeys };
    }
    case 'ApiKeyRevoked': {
      const apiKeys = new Map(state.apiKeys);
      const key = apiKeys.get(event.data.keyId);
      if (key) apiKeys.set(event.data.keyId, { ...key, revoked: true });
      return { ...state, apiKeys };
    }
    case 'BreakReasonsConfigured':
      return { ...state, breakReasons: event.data.reasons };
    case 'AgentSeatAssigned': {
      const seatHolders = new Map(state.seatHolders);
      seatHolders.set(event.data.agentId, event.data.login);
      return { ...state, seatHolders };
    }
    case 'AgentSeatReleased': {
      const seatHolders = new Map(state.seatHolders);
      seatHolders.delete(event.data.agentId);
      return { ...state, seatHolders };
    }
    case 'AgentLoginChanged': {
      const seatHolders = new Map(state.seatHolders);
      seatHolders.set(event.data.agentId, event.data.to);
      return { ...state, seatHolders };
    }
    case 'ScreenPopConfigured':
      return { ...state, screenPop: { secret: null, ...state.screenPop, urlTemplate: event.data.urlTemplate, pinned: event.data.pinned } };
    case 'ScreenPopSecretRotated':
      return { ...state, screenPop: { urlTemplate: null, pinned: false, ...state.screenPop, secret: event.data.secret } };
    case 'SatisfactionSurveyConfigured':
      return { ...state, satisfaction: event.data };
    case 'ReportSettingsConfigured':
      return { ...state, reports: event.data };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

