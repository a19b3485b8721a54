// The instance decider as a specification: qualification, seats and logins, API keys, break reasons.
import { describe, expect, it } from 'vitest';
import { fold } from '../../src/domain/decider.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../src/domain/errors.ts';
import type { InstanceCommand } from '../../src/domain/instance/instance.decide.ts';
import { instanceDecider } from '../../src/domain/instance/instance.decide.ts';
import type { InstanceEvent } from '../../src/domain/instance/instance.ts';
import { defaultBreakReasons } from '../../src/domain/instance/instance.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const spec = deciderSpec(instanceDecider);

const instanceCreated: InstanceEvent[] = [
  { type: 'InstanceCreated', data: { instanceId: 'inst-1', name: 'Acme', breakReasons: defaultBreakReasons } },
  { type: 'ApiKeyCreated', data: { keyId: 'key-admin', name: 'admin', role: 'ADMIN', secretHash: 'hash-admin' } },
];

const qualification = { companyName: 'Acme Ltd', registrationNumber: 'RN-42', documents: ['doc-1.pdf'] };
const submitted: InstanceEvent = { type: 'QualificationSubmitted', data: qualification };
const approved: InstanceEvent = { type: 'QualificationApproved', data: { reason: null } };
const rejected: InstanceEvent = { type: 'QualificationRejected', data: { reason: 'blurry scan' } };

const seatsPurchased = (seats: number, totalSeats = seats): InstanceEvent => ({ type: 'SeatsPurchased', data: { seats, totalSeats } });
const seatAssigned = (agentId: string, login: string): InstanceEvent => ({ type: 'AgentSeatAssigned', data: { agentId, login } });
const seatReleased = (agentId: string, login: string): InstanceEvent => ({ type: 'AgentSeatReleased', data: { agentId, login } });
const integrationKey: InstanceEvent = { type: 'ApiKeyCreated', data: { keyId: 'key-int', name: 'crm', role: 'INTEGRATION', secretHash: 'hash-int' } };

const createInstance = (): InstanceCommand => ({
  type: 'CreateInstance',
  data: { instanceId: 'inst-1', name: 'Acme', adminKey: { keyId: 'key-admin', secretHash: 'hash-admin' } },
  metadata: meta(),
});
const submitQualification = (): InstanceCommand => ({ type: 'SubmitQualification', data: qualification, metadata: meta() });
const reviewQualification = (approve: boolean, reason: string | null): InstanceCommand => ({
  type: 'ReviewQualification',
  data: { approve, reason },
  metadata: meta(),
});
const purchaseSeats = (seats: number): InstanceCommand => ({ type: 'PurchaseSeats', data: { seats }, metadata: meta() });
const assignSeat = (agentId: string, login: string): InstanceCommand => ({ type: 'AssignAgentSeat', data: { agentId, login }, metadata: meta() });
const releaseSeat = (agentId: string): InstanceCommand => ({ type: 'ReleaseAgentSeat', data: { agentId }, metadata: meta() });
const changeLogin = (agentId: string, login: string): InstanceCommand => ({ type: 'ChangeAgentLogin', data: { agentId, login }, metadata: meta() });
const createApiKey = (keyId: string): InstanceCommand => ({
  type: 'CreateApiKey',
  data: { keyId, name: 'crm', role: 'INTEGRATION', secretHash: 'hash-int' },
  metadata: meta(),
});
const revokeApiKey = (keyId: string): InstanceCommand => ({ type: 'RevokeApiKey', data: { keyId }, metadata: meta() });
const configureBreakReasons = (reasons: string[]): InstanceCommand => ({ type: 'ConfigureBreakReasons', data: { reasons }, metadata: meta() });

describe('instance decider', () => {
  describe('when the instance does not exist', () => {
    it('creates it with the default break reasons and an admin API key', () => {
      spec.given([]).when(createInstance()).then(instanceCreated);
    });

    it('starts with no qualification, no seats, no seat holders and the admin key', () => {
      const state = fold(instanceDecider, instanceCreated);
      expect(state).toEqual({
        status: 'active',
        id: 'inst-1',
        name: 'Acme',
        qualification: 'NOT_SUBMITTED',
        seats: 0,
        seatHolders: new Map(),
        apiKeys: new Map([['key-admin', { role: 'ADMIN', revoked: false }]]),
        breakReasons: defaultBreakReasons,
      });
    });

    it.each<[string, InstanceCommand]>([
      ['SubmitQualification', submitQualification()],
      ['ReviewQualification', reviewQualification(true, null)],
      ['PurchaseSeats', purchaseSeats(5)],
      ['CreateApiKey', createApiKey('key-int')],
      ['RevokeApiKey', revokeApiKey('key-admin')],
      ['ConfigureBreakReasons', configureBreakReasons(['Rest'])],
      ['AssignAgentSeat', assignSeat('agent-1', 'ann')],
      ['ReleaseAgentSeat', releaseSeat('agent-1')],
      ['ChangeAgentLogin', changeLogin('agent-1', 'anna')],
    ])('refuses %s as not found', (_name, command) => {
      spec.given([]).when(command).thenThrows(NotFoundError, /Instance inst-1 not found/);
    });
  });

  describe('when the instance exists', () => {
    it('refuses to create it again', () => {
      spec.given(instanceCreated).when(createInstance()).thenThrows(ConflictError, /already exists/);
    });
  });

  describe('qualification', () => {
    describe('when not submitted yet', () => {
      it('accepts a submission, which then waits for review', () => {
        spec.given(instanceCreated).when(submitQualification()).then([submitted]);
        expect(fold(instanceDecider, [...instanceCreated, submitted])).toMatchObject({ qualification: 'PENDING' });
      });

      it('has nothing to review', () => {
        spec.given(instanceCreated).when(reviewQualification(true, null)).thenThrows(ConflictError, /no qualification waiting for review \(status NOT_SUBMITTED\)/);
      });
    });

    describe('when pending', () => {
      const pending = [...instanceCreated, submitted];

      it('refuses a second submission', () => {
        spec.given(pending).when(submitQualification()).thenThrows(ConflictError, /already waiting for review/);
      });

      it('approves it, with or without a reason', () => {
        spec.given(pending).when(reviewQualification(true, null)).then([approved]);
        spec.given(pending).when(reviewQualification(true, 'all good')).then([{ type: 'QualificationApproved', data: { reason: 'all good' } }]);
        expect(fold(instanceDecider, [...pending, approved])).toMatchObject({ qualification: 'APPROVED' });
      });

      it('rejects it with a reason', () => {
        spec.given(pending).when(reviewQualification(false, 'blurry scan')).then([rejected]);
        expect(fold(instanceDecider, [...pending, rejected])).toMatchObject({ qualification: 'REJECTED' });
      });

      it('refuses a rejection without a reason, naming the reason field', () => {
        spec.given(pending).when(reviewQualification(false, null)).thenThrows(ValidationError, /^reason: /);
        spec.given(pending).when(reviewQualification(false, '')).thenThrows(ValidationError, /^reason: /);
        expect(() => instanceDecider.decide(reviewQualification(false, null), fold(instanceDecider, pending))).toThrow(
          expect.objectContaining({ field: 'reason' }),
        );
      });
    });

    describe('when approved', () => {
      const approvedInstance = [...instanceCreated, submitted, approved];

      it('refuses a new submission', () => {
        spec.given(approvedInstance).when(submitQualification()).thenThrows(ConflictError, /already approved/);
      });

      it('has nothing to review', () => {
        spec.given(approvedInstance).when(reviewQualification(true, null)).thenThrows(ConflictError, /status APPROVED/);
      });
    });

    describe('when rejected', () => {
      const rejectedInstance = [...instanceCreated, submitted, rejected];

      it('accepts a resubmission, which waits for review again', () => {
        spec.given(rejectedInstance).when(submitQualification()).then([submitted]);
        expect(fold(instanceDecider, [...rejectedInstance, submitted])).toMatchObject({ qualification: 'PENDING' });
      });

      it('has nothing to review', () => {
        spec.given(rejectedInstance).when(reviewQualification(false, 'still blurry')).thenThrows(ConflictError, /status REJECTED/);
      });
    });
  });

  describe('seats', () => {
    it('starts the total from the first purchase', () => {
      spec.given(instanceCreated).when(purchaseSeats(3)).then([seatsPurchased(3, 3)]);
    });

    it('adds a purchase to the seats already bought', () => {
      spec.given([...instanceCreated, seatsPurchased(3)]).when(purchaseSeats(2)).then([seatsPurchased(2, 5)]);
      expect(fold(instanceDecider, [...instanceCreated, seatsPurchased(3), seatsPurchased(2, 5)])).toMatchObject({ seats: 5 });
    });

    describe('when no seat was bought', () => {
      it('refuses to assign one', () => {
        spec.given(instanceCreated).when(assignSeat('agent-1', 'ann')).thenThrows(ConflictError, /No free seat: 0 of 0 seats/);
      });
    });

    describe('when seats are free', () => {
      const withSeats = [...instanceCreated, seatsPurchased(2), seatAssigned('agent-1', 'ann')];

      it('assigns a seat to an agent with a new login', () => {
        spec.given(withSeats).when(assignSeat('agent-2', 'bob')).then([seatAssigned('agent-2', 'bob')]);
      });

      it('refuses a login another agent holds, whatever its case', () => {
        spec.given(withSeats).when(assignSeat('agent-2', 'ann')).thenThrows(ConflictError, /Login ann is already used/);
        spec.given(withSeats).when(assignSeat('agent-2', 'ANN')).thenThrows(ConflictError, /Login ANN is already used/);
      });

      it('ignores the same assignment twice', () => {
        spec.given(withSeats).when(assignSeat('agent-1', 'ann')).then([]);
      });
    });

    describe('when every seat is taken', () => {
      const full = [...instanceCreated, seatsPurchased(2), seatAssigned('agent-1', 'ann'), seatAssigned('agent-2', 'bob')];

      it('refuses another agent, naming the seats in use', () => {
        spec.given(full).when(assignSeat('agent-3', 'cid')).thenThrows(ConflictError, /No free seat: 2 of 2 seats are in use; purchase more seats/);
      });

      it('still ignores an assignment already made', () => {
        spec.given(full).when(assignSeat('agent-2', 'bob')).then([]);
      });

      it('fits another agent once a seat is released', () => {
        spec.given(full).when(releaseSeat('agent-1')).then([seatReleased('agent-1', 'ann')]);
        spec.given([...full, seatReleased('agent-1', 'ann')]).when(assignSeat('agent-3', 'cid')).then([seatAssigned('agent-3', 'cid')]);
      });

      it('fits another agent once more seats are bought', () => {
        spec.given([...full, seatsPurchased(1, 3)]).when(assignSeat('agent-3', 'cid')).then([seatAssigned('agent-3', 'cid')]);
      });
    });

    describe('when a seat was released', () => {
      const released = [...instanceCreated, seatsPurchased(1), seatAssigned('agent-1', 'ann'), seatReleased('agent-1', 'ann')];

      it('frees the login for another agent', () => {
        spec.given(released).when(assignSeat('agent-2', 'ann')).then([seatAssigned('agent-2', 'ann')]);
      });

      it('ignores releasing it again', () => {
        spec.given(released).when(releaseSeat('agent-1')).then([]);
      });

      it('no longer knows the agent for a login change', () => {
        spec.given(released).when(changeLogin('agent-1', 'anna')).thenThrows(NotFoundError, /Agent agent-1 not found/);
      });
    });

    it('ignores releasing the seat of an agent that never had one', () => {
      spec.given([...instanceCreated, seatsPurchased(1)]).when(releaseSeat('agent-9')).then([]);
    });
  });

  describe('agent logins', () => {
    const twoAgents = [...instanceCreated, seatsPurchased(2), seatAssigned('agent-1', 'ann'), seatAssigned('agent-2', 'bob')];
    const loginChanged = (agentId: string, from: string, to: string): InstanceEvent => ({ type: 'AgentLoginChanged', data: { agentId, from, to } });

    it('changes a login to a free one', () => {
      spec.given(twoAgents).when(changeLogin('agent-1', 'anna')).then([loginChanged('agent-1', 'ann', 'anna')]);
    });

    it('ignores a change to the same login', () => {
      spec.given(twoAgents).when(changeLogin('agent-1', 'ann')).then([]);
    });

    it('lets an agent change only the case of their own login', () => {
      spec.given(twoAgents).when(changeLogin('agent-1', 'Ann')).then([loginChanged('agent-1', 'ann', 'Ann')]);
    });

    it('refuses a login another agent holds, whatever its case', () => {
      spec.given(twoAgents).when(changeLogin('agent-1', 'bob')).thenThrows(ConflictError, /Login bob is already used/);
      spec.given(twoAgents).when(changeLogin('agent-1', 'Bob')).thenThrows(ConflictError, /Login Bob is already used/);
    });

    it('refuses an agent without a seat', () => {
      spec.given(twoAgents).when(changeLogin('agent-9', 'zed')).thenThrows(NotFoundError, /Agent agent-9 not found/);
    });

    describe('when a login was changed', () => {
      const changed = [...twoAgents, loginChanged('agent-1', 'ann', 'anna')];

      it('frees the old login', () => {
        spec.given(changed).when(changeLogin('agent-2', 'ann')).then([loginChanged('agent-2', 'bob', 'ann')]);
      });

      it('holds the new login against others', () => {
        spec.given(changed).when(changeLogin('agent-2', 'ANNA')).thenThrows(ConflictError, /already used/);
      });
    });
  });

  describe('API keys', () => {
    it('creates a key', () => {
      spec.given(instanceCreated).when(createApiKey('key-int')).then([integrationKey]);
    });

    it('ignores creating a key that exists', () => {
      spec.given([...instanceCreated, integrationKey]).when(createApiKey('key-int')).then([]);
    });

    it('revokes a key', () => {
      spec.given([...instanceCreated, integrationKey]).when(revokeApiKey('key-int')).then([{ type: 'ApiKeyRevoked', data: { keyId: 'key-int' } }]);
    });

    it('ignores revoking a key twice', () => {
      spec
        .given([...instanceCreated, integrationKey, { type: 'ApiKeyRevoked', data: { keyId: 'key-int' } }])
        .when(revokeApiKey('key-int'))
        .then([]);
    });

    it('refuses to revoke an unknown key', () => {
      spec.given(instanceCreated).when(revokeApiKey('key-unknown')).thenThrows(NotFoundError, /API key key-unknown not found/);
    });
  });

  describe('break reasons', () => {
    it('configures a new list', () => {
      spec.given(instanceCreated).when(configureBreakReasons(['Rest', 'Coaching'])).then([{ type: 'BreakReasonsConfigured', data: { reasons: ['Rest', 'Coaching'] } }]);
    });

    it('ignores the list it already has', () => {
      spec.given(instanceCreated).when(configureBreakReasons([...defaultBreakReasons])).then([]);
      const configured: InstanceEvent = { type: 'BreakReasonsConfigured', data: { reasons: ['Rest', 'Coaching'] } };
      spec.given([...instanceCreated, configured]).when(configureBreakReasons(['Rest', 'Coaching'])).then([]);
    });
  });
});
