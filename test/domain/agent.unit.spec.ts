// The agent decider as a specification, grouped by presence: offline, available, on break, forced offline, deleted.
import { describe, expect, it } from 'vitest';
import type { AgentCommand } from '../../src/domain/agent/agent.decide.ts';
import { agentDecider } from '../../src/domain/agent/agent.decide.ts';
import type { AgentEvent, PresenceChoice } from '../../src/domain/agent/agent.ts';
import { effectivePresence } from '../../src/domain/agent/agent.ts';
import { fold } from '../../src/domain/decider.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../src/domain/errors.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const spec = deciderSpec(agentDecider);

const breakReasons = ['Rest', 'Meal', 'Meeting', 'Training'];
const ann = { agentId: 'agent-1', name: 'Ann', login: 'ann', passwordHash: 'hash-1', phone: '+15550100', role: 'AGENT' as const };

const created: AgentEvent = { type: 'AgentCreated', data: ann };
const wentAvailable: AgentEvent = { type: 'AgentWentAvailable', data: {} };
const wentOffline: AgentEvent = { type: 'AgentWentOffline', data: {} };
const wentOnBreak = (reason: string | null): AgentEvent => ({ type: 'AgentWentOnBreak', data: { reason } });
const forcedOffline: AgentEvent = { type: 'AgentForcedOffline', data: { reason: 'left without logging out' } };
const restored: AgentEvent = { type: 'AgentRestored', data: {} };
const deleted: AgentEvent = { type: 'AgentDeleted', data: {} };

const createAgent = (overrides: Partial<typeof ann> = {}): AgentCommand => ({ type: 'CreateAgent', data: { ...ann, ...overrides }, metadata: meta() });
const updateAgent = (changes: Omit<Extract<AgentCommand, { type: 'UpdateAgent' }>['data'], 'agentId'>): AgentCommand => ({
  type: 'UpdateAgent',
  data: { agentId: 'agent-1', ...changes },
  metadata: meta(),
});
const changePassword = (passwordHash: string): AgentCommand => ({ type: 'ChangeAgentPassword', data: { agentId: 'agent-1', passwordHash }, metadata: meta() });
const deleteAgent = (): AgentCommand => ({ type: 'DeleteAgent', data: { agentId: 'agent-1' }, metadata: meta() });
const setPresence = (presence: PresenceChoice, reason: string | null = null): AgentCommand => ({
  type: 'SetPresence',
  data: { agentId: 'agent-1', presence, reason, breakReasons },
  metadata: meta({ actor: 'agent:agent-1' }),
});
const forceOffline = (reason = 'left without logging out'): AgentCommand => ({
  type: 'ForceAgentOffline',
  data: { agentId: 'agent-1', reason },
  metadata: meta({ actor: 'agent:supervisor-1' }),
});
const restore = (): AgentCommand => ({ type: 'RestoreAgent', data: { agentId: 'agent-1' }, metadata: meta({ actor: 'agent:supervisor-1' }) });

describe('agent decider', () => {
  describe('when the agent does not exist', () => {
    it('creates it', () => {
      spec.given([]).when(createAgent()).then([created]);
    });

    it.each<[string, AgentCommand]>([
      ['UpdateAgent', updateAgent({ name: 'Anna' })],
      ['ChangeAgentPassword', changePassword('hash-2')],
      ['DeleteAgent', deleteAgent()],
      ['SetPresence', setPresence('AVAILABLE')],
      ['ForceAgentOffline', forceOffline()],
      ['RestoreAgent', restore()],
    ])('refuses %s as not found', (_name, command) => {
      spec.given([]).when(command).thenThrows(NotFoundError, /Agent agent-1 not found/);
    });
  });

  describe('when created (offline)', () => {
    const offline = [created];

    it('starts offline, with no break reason and not forced offline', () => {
      const state = fold(agentDecider, offline);
      expect(state).toMatchObject({ status: 'active', id: 'agent-1', presence: 'OFFLINE', breakReason: null, forcedOffline: null });
      if (state.status === 'active') expect(effectivePresence(state)).toBe('OFFLINE');
    });

    it('ignores the same creation again', () => {
      spec.given(offline).when(createAgent()).then([]);
    });

    it('refuses a creation with the same id and another login', () => {
      spec.given(offline).when(createAgent({ login: 'anna' })).thenThrows(ConflictError, /Agent agent-1 already exists/);
    });

    it('goes available', () => {
      spec.given(offline).when(setPresence('AVAILABLE')).then([wentAvailable]);
    });

    it('goes on break with a configured reason', () => {
      spec.given(offline).when(setPresence('BREAK', 'Meal')).then([wentOnBreak('Meal')]);
    });

    it('goes on break without a reason', () => {
      spec.given(offline).when(setPresence('BREAK')).then([wentOnBreak(null)]);
    });

    it('ignores going offline again', () => {
      spec.given(offline).when(setPresence('OFFLINE')).then([]);
    });

    it('refuses a break reason the instance has not configured, naming the reason field', () => {
      spec.given(offline).when(setPresence('BREAK', 'Nap')).thenThrows(ValidationError, /^reason: "Nap" is not a break reason/);
      expect(() => agentDecider.decide(setPresence('BREAK', 'Nap'), fold(agentDecider, offline))).toThrow(expect.objectContaining({ field: 'reason' }));
    });

    it('is forced offline', () => {
      spec.given(offline).when(forceOffline()).then([forcedOffline]);
    });

    it('ignores a restore when not forced offline', () => {
      spec.given(offline).when(restore()).then([]);
    });

    it('is deleted without going offline first', () => {
      spec.given(offline).when(deleteAgent()).then([deleted]);
    });

    it('changes the password', () => {
      spec.given(offline).when(changePassword('hash-2')).then([{ type: 'AgentPasswordChanged', data: { passwordHash: 'hash-2' } }]);
    });
  });

  describe('updates', () => {
    it('emits only the fields that change', () => {
      spec
        .given([created])
        .when(updateAgent({ name: 'Anna', login: 'ann', phone: '+15550199', role: 'AGENT' }))
        .then([{ type: 'AgentUpdated', data: { name: 'Anna', phone: '+15550199' } }]);
    });

    it('emits every field that changes', () => {
      spec
        .given([created])
        .when(updateAgent({ name: 'Anna', login: 'anna', phone: null, role: 'SUPERVISOR' }))
        .then([{ type: 'AgentUpdated', data: { name: 'Anna', login: 'anna', phone: null, role: 'SUPERVISOR' } }]);
    });

    it('clears the phone with null', () => {
      spec.given([created]).when(updateAgent({ phone: null })).then([{ type: 'AgentUpdated', data: { phone: null } }]);
    });

    it('ignores an update that changes nothing', () => {
      spec.given([created]).when(updateAgent({ name: 'Ann', login: 'ann', phone: '+15550100', role: 'AGENT' })).then([]);
      spec.given([created]).when(updateAgent({})).then([]);
    });

    it('compares with the fields as last updated', () => {
      const updated: AgentEvent = { type: 'AgentUpdated', data: { name: 'Anna' } };
      spec.given([created, updated]).when(updateAgent({ name: 'Anna' })).then([]);
      spec.given([created, updated]).when(updateAgent({ name: 'Ann' })).then([{ type: 'AgentUpdated', data: { name: 'Ann' } }]);
    });
  });

  describe('when available', () => {
    const available = [created, wentAvailable];

    it('ignores going available again', () => {
      spec.given(available).when(setPresence('AVAILABLE')).then([]);
    });

    it('goes on break', () => {
      spec.given(available).when(setPresence('BREAK', 'Rest')).then([wentOnBreak('Rest')]);
    });

    it('goes offline', () => {
      spec.given(available).when(setPresence('OFFLINE')).then([wentOffline]);
    });

    it('is forced offline, which also clears the chosen presence', () => {
      spec.given(available).when(forceOffline()).then([forcedOffline]);
      const state = fold(agentDecider, [...available, forcedOffline]);
      expect(state).toMatchObject({ presence: 'OFFLINE', forcedOffline: { reason: 'left without logging out' } });
      if (state.status === 'active') expect(effectivePresence(state)).toBe('FORCED_OFFLINE');
    });

    it('goes offline before being deleted', () => {
      spec.given(available).when(deleteAgent()).then([wentOffline, deleted]);
    });
  });

  describe('when on break', () => {
    const onBreak = [created, wentOnBreak('Meal')];

    it('keeps the reason in its state', () => {
      expect(fold(agentDecider, onBreak)).toMatchObject({ presence: 'BREAK', breakReason: 'Meal' });
    });

    it('ignores the same break again', () => {
      spec.given(onBreak).when(setPresence('BREAK', 'Meal')).then([]);
    });

    it('switches to another configured reason', () => {
      spec.given(onBreak).when(setPresence('BREAK', 'Meeting')).then([wentOnBreak('Meeting')]);
    });

    it('switches to a break without a reason', () => {
      spec.given(onBreak).when(setPresence('BREAK')).then([wentOnBreak(null)]);
    });

    it('refuses a reason the instance has not configured', () => {
      spec.given(onBreak).when(setPresence('BREAK', 'Nap')).thenThrows(ValidationError, /^reason: /);
    });

    it('goes available, which clears the reason', () => {
      spec.given(onBreak).when(setPresence('AVAILABLE')).then([wentAvailable]);
      expect(fold(agentDecider, [...onBreak, wentAvailable])).toMatchObject({ presence: 'AVAILABLE', breakReason: null });
    });

    it('goes offline', () => {
      spec.given(onBreak).when(setPresence('OFFLINE')).then([wentOffline]);
    });

    it('goes offline before being deleted', () => {
      spec.given(onBreak).when(deleteAgent()).then([wentOffline, deleted]);
    });

    it('is forced offline', () => {
      spec.given(onBreak).when(forceOffline()).then([forcedOffline]);
      expect(fold(agentDecider, [...onBreak, forcedOffline])).toMatchObject({ presence: 'OFFLINE', breakReason: null });
    });
  });

  describe('when offline again', () => {
    const backOffline = [created, wentAvailable, wentOffline];

    it('ignores going offline again', () => {
      spec.given(backOffline).when(setPresence('OFFLINE')).then([]);
    });

    it('goes available again', () => {
      spec.given(backOffline).when(setPresence('AVAILABLE')).then([wentAvailable]);
    });
  });

  describe('when forced offline', () => {
    const forced = [created, wentAvailable, forcedOffline];

    it('refuses to go available', () => {
      spec.given(forced).when(setPresence('AVAILABLE')).thenThrows(ForbiddenError, /forced offline \(left without logging out\) and cannot go online until restored/);
    });

    it('refuses to go on break', () => {
      spec.given(forced).when(setPresence('BREAK', 'Rest')).thenThrows(ForbiddenError, /cannot go online until restored/);
    });

    it('allows going offline, which changes nothing as it is offline already', () => {
      spec.given(forced).when(setPresence('OFFLINE')).then([]);
    });

    it('ignores being forced offline twice', () => {
      spec.given(forced).when(forceOffline('another reason')).then([]);
    });

    it('is restored, and stays offline until it chooses otherwise', () => {
      spec.given(forced).when(restore()).then([restored]);
      const state = fold(agentDecider, [...forced, restored]);
      expect(state).toMatchObject({ presence: 'OFFLINE', forcedOffline: null });
      if (state.status === 'active') expect(effectivePresence(state)).toBe('OFFLINE');
    });

    it('is deleted without another offline event', () => {
      spec.given(forced).when(deleteAgent()).then([deleted]);
    });

    it('can still be updated', () => {
      spec.given(forced).when(updateAgent({ name: 'Anna' })).then([{ type: 'AgentUpdated', data: { name: 'Anna' } }]);
    });
  });

  describe('when restored', () => {
    const restoredAgent = [created, wentAvailable, forcedOffline, restored];

    it('goes available again', () => {
      spec.given(restoredAgent).when(setPresence('AVAILABLE')).then([wentAvailable]);
    });

    it('goes on break again', () => {
      spec.given(restoredAgent).when(setPresence('BREAK', 'Training')).then([wentOnBreak('Training')]);
    });

    it('ignores a second restore', () => {
      spec.given(restoredAgent).when(restore()).then([]);
    });

    it('can be forced offline again', () => {
      spec.given(restoredAgent).when(forceOffline()).then([forcedOffline]);
    });
  });

  describe('when deleted', () => {
    const deletedAgent = [created, wentAvailable, wentOffline, deleted];

    it('ignores a second delete', () => {
      spec.given(deletedAgent).when(deleteAgent()).then([]);
    });

    it('refuses to be created again', () => {
      spec.given(deletedAgent).when(createAgent()).thenThrows(ConflictError, /already exists/);
    });

    it.each<[string, AgentCommand]>([
      ['UpdateAgent', updateAgent({ name: 'Anna' })],
      ['ChangeAgentPassword', changePassword('hash-2')],
      ['SetPresence AVAILABLE', setPresence('AVAILABLE')],
      ['SetPresence BREAK', setPresence('BREAK', 'Rest')],
      ['SetPresence OFFLINE', setPresence('OFFLINE')],
      ['ForceAgentOffline', forceOffline()],
      ['RestoreAgent', restore()],
    ])('refuses %s as not found', (_name, command) => {
      spec.given(deletedAgent).when(command).thenThrows(NotFoundError, /Agent agent-1 not found/);
    });
  });
});
