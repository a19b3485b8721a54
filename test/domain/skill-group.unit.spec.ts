// The skill group decider as a specification: settings that fit the channel, members and their levels.
import { defaultRoutingOptions } from '../../src/domain/skill-group/skill-group.ts';
import { describe, expect, it } from 'vitest';
import { fold } from '../../src/domain/decider.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../src/domain/errors.ts';
import type { SkillGroupCommand } from '../../src/domain/skill-group/skill-group.decide.ts';
import { skillGroupDecider } from '../../src/domain/skill-group/skill-group.decide.ts';
import type { Channel, RoutingStrategy, SkillGroupEvent, SkillGroupSettings } from '../../src/domain/skill-group/skill-group.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const spec = deciderSpec(skillGroupDecider);

const phoneSettings: SkillGroupSettings = { name: 'Sales', channel: 'PHONE', strategy: 'LONGEST_IDLE', maxConcurrency: 1, ringTimeoutSeconds: 20, wrapUpSeconds: 30 };
const chatSettings: SkillGroupSettings = { name: 'Chat', channel: 'ONLINE', strategy: 'SATURATION', maxConcurrency: 3, ringTimeoutSeconds: 30, wrapUpSeconds: 0 };

const created = (settings: SkillGroupSettings = phoneSettings): SkillGroupEvent => ({ type: 'SkillGroupCreated', data: { skillGroupId: 'sg-1', ...settings } });
const updated = (data: Extract<SkillGroupEvent, { type: 'SkillGroupUpdated' }>['data']): SkillGroupEvent => ({ type: 'SkillGroupUpdated', data });
const deleted: SkillGroupEvent = { type: 'SkillGroupDeleted', data: {} };
const memberAdded = (agentId: string, level: number): SkillGroupEvent => ({ type: 'SkillGroupMemberAdded', data: { agentId, level } });
const levelChanged = (agentId: string, level: number): SkillGroupEvent => ({ type: 'SkillGroupMemberLevelChanged', data: { agentId, level } });
const memberRemoved = (agentId: string): SkillGroupEvent => ({ type: 'SkillGroupMemberRemoved', data: { agentId } });

const createSkillGroup = (overrides: Partial<SkillGroupSettings> = {}): SkillGroupCommand => ({
  type: 'CreateSkillGroup',
  data: { skillGroupId: 'sg-1', ...phoneSettings, ...overrides },
  metadata: meta(),
});
const updateSkillGroup = (changes: Partial<Omit<SkillGroupSettings, 'channel'>>): SkillGroupCommand => ({
  type: 'UpdateSkillGroup',
  data: { skillGroupId: 'sg-1', ...changes },
  metadata: meta(),
});
const deleteSkillGroup = (): SkillGroupCommand => ({ type: 'DeleteSkillGroup', data: { skillGroupId: 'sg-1' }, metadata: meta() });
const setMember = (agentId: string, level: number): SkillGroupCommand => ({ type: 'SetSkillGroupMember', data: { skillGroupId: 'sg-1', agentId, level }, metadata: meta() });
const removeMember = (agentId: string): SkillGroupCommand => ({ type: 'RemoveSkillGroupMember', data: { skillGroupId: 'sg-1', agentId }, metadata: meta() });

/** The field a ValidationError names, so that the API can point at the input at fault. */
function expectValidationField(events: SkillGroupEvent[], command: SkillGroupCommand, field: string): void {
  spec.given(events).when(command).thenThrows(ValidationError, new RegExp(`^${field}: `));
  expect(() => skillGroupDecider.decide(command, fold(skillGroupDecider, events))).toThrow(expect.objectContaining({ field }));
}

describe('skill group decider', () => {
  describe('when the skill group does not exist', () => {
    it('creates a PHONE group', () => {
      spec.given([]).when(createSkillGroup()).then([created()]);
    });

    it('creates an ONLINE group holding several chats per agent', () => {
      spec.given([]).when(createSkillGroup(chatSettings)).then([created(chatSettings)]);
    });

    it('starts with the settings, the default routing options and no members', () => {
      expect(fold(skillGroupDecider, [created()])).toEqual({ status: 'active', id: 'sg-1', ...defaultRoutingOptions, ...phoneSettings, members: new Map() });
    });

    it('refuses auto-accept with RING_ALL, and overflowing into itself', () => {
      expectValidationField([], createSkillGroup({ strategy: 'RING_ALL', autoAccept: true }), 'autoAccept');
      expectValidationField([], createSkillGroup({ overflowSkillGroupId: 'sg-1' }), 'overflowSkillGroupId');
    });

    it('ends calls when the agent\'s device is lost unless told otherwise', () => {
      expect(defaultRoutingOptions.onAgentDeviceLost).toBe('END');
      expect(fold(skillGroupDecider, [created()])).toMatchObject({ onAgentDeviceLost: 'END' });
    });

    it('puts calls back in the queue on a lost device when a PHONE group says REQUEUE', () => {
      spec.given([]).when(createSkillGroup({ onAgentDeviceLost: 'REQUEUE' })).then([created({ ...phoneSettings, onAgentDeviceLost: 'REQUEUE' })]);
      expect(fold(skillGroupDecider, [created({ ...phoneSettings, onAgentDeviceLost: 'REQUEUE' })])).toMatchObject({ onAgentDeviceLost: 'REQUEUE' });
    });

    it('refuses onAgentDeviceLost REQUEUE for ONLINE (a chat has no device to lose), naming the field (END is fine)', () => {
      expectValidationField([], createSkillGroup({ ...chatSettings, onAgentDeviceLost: 'REQUEUE' }), 'onAgentDeviceLost');
      spec.given([]).when(createSkillGroup({ ...chatSettings, onAgentDeviceLost: 'END' })).then([created({ ...chatSettings, onAgentDeviceLost: 'END' })]);
    });

    it('puts AV calls back in the queue too when an AV group says REQUEUE (issue 14)', () => {
      const av = { ...phoneSettings, channel: 'AV' as Channel };
      spec.given([]).when(createSkillGroup({ ...av, onAgentDeviceLost: 'REQUEUE' })).then([created({ ...av, onAgentDeviceLost: 'REQUEUE' })]);
    });

    it('accepts RING_ALL for PHONE', () => {
      spec.given([]).when(createSkillGroup({ strategy: 'RING_ALL' })).then([created({ ...phoneSettings, strategy: 'RING_ALL' })]);
    });

    it.each<Channel>(['ONLINE', 'AV'])('refuses RING_ALL for %s, naming the strategy field', (channel) => {
      expectValidationField([], createSkillGroup({ channel, strategy: 'RING_ALL', maxConcurrency: 1 }), 'strategy');
    });

    it.each<Channel>(['PHONE', 'AV'])('refuses SATURATION for %s, naming the strategy field', (channel) => {
      expectValidationField([], createSkillGroup({ channel, strategy: 'SATURATION', maxConcurrency: 1 }), 'strategy');
    });

    it.each<Channel>(['PHONE', 'AV'])('refuses a maxConcurrency other than 1 for %s, naming the maxConcurrency field', (channel) => {
      expectValidationField([], createSkillGroup({ channel, maxConcurrency: 2 }), 'maxConcurrency');
    });

    it.each<RoutingStrategy>(['LONGEST_IDLE', 'FEWEST_CONTACTS', 'LEAST_TALK_TIME', 'ROUND_ROBIN', 'RANDOM', 'SKILL_LEVEL'])(
      'accepts %s for every channel',
      (strategy) => {
        spec.given([]).when(createSkillGroup({ channel: 'PHONE', strategy })).then([created({ ...phoneSettings, strategy })]);
        spec.given([]).when(createSkillGroup({ channel: 'AV', strategy })).then([created({ ...phoneSettings, channel: 'AV', strategy })]);
        spec.given([]).when(createSkillGroup({ ...chatSettings, strategy })).then([created({ ...chatSettings, strategy })]);
      },
    );

    it.each<[string, SkillGroupCommand]>([
      ['UpdateSkillGroup', updateSkillGroup({ name: 'Support' })],
      ['DeleteSkillGroup', deleteSkillGroup()],
      ['SetSkillGroupMember', setMember('agent-1', 1)],
      ['RemoveSkillGroupMember', removeMember('agent-1')],
    ])('refuses %s as not found', (_name, command) => {
      spec.given([]).when(command).thenThrows(NotFoundError, /Skill group sg-1 not found/);
    });
  });

  describe('when the skill group exists', () => {
    it('refuses to create it again', () => {
      spec.given([created()]).when(createSkillGroup()).thenThrows(ConflictError, /Skill group sg-1 already exists/);
    });

    it('is deleted', () => {
      spec.given([created()]).when(deleteSkillGroup()).then([deleted]);
    });
  });

  describe('updates', () => {
    it('emits only the settings that change', () => {
      spec
        .given([created()])
        .when(updateSkillGroup({ name: 'Sales', strategy: 'ROUND_ROBIN', maxConcurrency: 1, ringTimeoutSeconds: 25, wrapUpSeconds: 30 }))
        .then([updated({ strategy: 'ROUND_ROBIN', ringTimeoutSeconds: 25 })]);
    });

    it('ignores an update that changes nothing', () => {
      const { channel: _channel, ...sameSettings } = phoneSettings;
      spec.given([created()]).when(updateSkillGroup(sameSettings)).then([]);
      spec.given([created()]).when(updateSkillGroup({})).then([]);
    });

    it('compares with the settings as last updated', () => {
      const renamed = [created(), updated({ name: 'Inside sales' })];
      spec.given(renamed).when(updateSkillGroup({ name: 'Inside sales' })).then([]);
      spec.given(renamed).when(updateSkillGroup({ name: 'Sales' })).then([updated({ name: 'Sales' })]);
    });

    it('raises the number of chats of an ONLINE group', () => {
      spec.given([created(chatSettings)]).when(updateSkillGroup({ maxConcurrency: 5 })).then([updated({ maxConcurrency: 5 })]);
    });

    it('moves an ONLINE group off SATURATION', () => {
      spec.given([created(chatSettings)]).when(updateSkillGroup({ strategy: 'FEWEST_CONTACTS' })).then([updated({ strategy: 'FEWEST_CONTACTS' })]);
    });

    it('checks the rules again against the channel: RING_ALL on ONLINE', () => {
      expectValidationField([created(chatSettings)], updateSkillGroup({ strategy: 'RING_ALL' }), 'strategy');
    });

    it('checks the rules again against the channel: SATURATION on PHONE', () => {
      expectValidationField([created()], updateSkillGroup({ strategy: 'SATURATION' }), 'strategy');
    });

    it('checks the rules again against the channel: several contacts on PHONE', () => {
      expectValidationField([created()], updateSkillGroup({ maxConcurrency: 2 }), 'maxConcurrency');
    });

    it('switches onAgentDeviceLost, emitting only a change', () => {
      spec.given([created()]).when(updateSkillGroup({ onAgentDeviceLost: 'REQUEUE' })).then([updated({ onAgentDeviceLost: 'REQUEUE' })]);
      spec.given([created()]).when(updateSkillGroup({ onAgentDeviceLost: 'END' })).then([]);
      const requeueing = [created(), updated({ onAgentDeviceLost: 'REQUEUE' })];
      expect(fold(skillGroupDecider, requeueing)).toMatchObject({ onAgentDeviceLost: 'REQUEUE' });
      spec.given(requeueing).when(updateSkillGroup({ onAgentDeviceLost: 'END' })).then([updated({ onAgentDeviceLost: 'END' })]);
    });

    it('checks the rules again against the channel: onAgentDeviceLost REQUEUE on ONLINE', () => {
      expectValidationField([created(chatSettings)], updateSkillGroup({ onAgentDeviceLost: 'REQUEUE' }), 'onAgentDeviceLost');
    });

    it('checks the rules again against the channel: several contacts on AV', () => {
      expectValidationField([created({ ...phoneSettings, channel: 'AV' })], updateSkillGroup({ maxConcurrency: 3 }), 'maxConcurrency');
    });
  });

  describe('members', () => {
    it('adds a member with a level', () => {
      spec.given([created()]).when(setMember('agent-1', 2)).then([memberAdded('agent-1', 2)]);
    });

    it('ignores removing an agent that is not a member', () => {
      spec.given([created()]).when(removeMember('agent-1')).then([]);
    });

    describe('when an agent is a member', () => {
      const withMember = [created(), memberAdded('agent-1', 2)];

      it('changes their level', () => {
        spec.given(withMember).when(setMember('agent-1', 1)).then([levelChanged('agent-1', 1)]);
        expect(fold(skillGroupDecider, [...withMember, levelChanged('agent-1', 1)])).toMatchObject({ members: new Map([['agent-1', 1]]) });
      });

      it('ignores the same level again', () => {
        spec.given(withMember).when(setMember('agent-1', 2)).then([]);
        spec.given([...withMember, levelChanged('agent-1', 1)]).when(setMember('agent-1', 1)).then([]);
      });

      it('adds another agent beside them', () => {
        spec.given(withMember).when(setMember('agent-2', 2)).then([memberAdded('agent-2', 2)]);
      });

      it('removes them', () => {
        spec.given(withMember).when(removeMember('agent-1')).then([memberRemoved('agent-1')]);
      });
    });

    describe('when a member was removed', () => {
      const removed = [created(), memberAdded('agent-1', 2), memberRemoved('agent-1')];

      it('ignores removing them again', () => {
        spec.given(removed).when(removeMember('agent-1')).then([]);
      });

      it('adds them back as a new member', () => {
        spec.given(removed).when(setMember('agent-1', 2)).then([memberAdded('agent-1', 2)]);
      });
    });
  });

  describe('when deleted', () => {
    const deletedGroup = [created(), memberAdded('agent-1', 1), deleted];

    it('ignores a second delete', () => {
      spec.given(deletedGroup).when(deleteSkillGroup()).then([]);
    });

    it('refuses to be created again', () => {
      spec.given(deletedGroup).when(createSkillGroup()).thenThrows(ConflictError, /already exists/);
    });

    it.each<[string, SkillGroupCommand]>([
      ['UpdateSkillGroup', updateSkillGroup({ name: 'Support' })],
      ['SetSkillGroupMember', setMember('agent-2', 1)],
      ['RemoveSkillGroupMember', removeMember('agent-1')],
    ])('refuses %s as not found', (_name, command) => {
      spec.given(deletedGroup).when(command).thenThrows(NotFoundError, /Skill group sg-1 not found/);
    });
  });
});
