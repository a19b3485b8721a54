// Trunks, numbers (one instance platform-wide) and SIP usernames (one agent platform-wide) as deciders.
import { describe, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '../../src/domain/errors.ts';
import { phoneNumberDecider } from '../../src/domain/telephony/phone-number.decide.ts';
import type { PhoneNumberEvent } from '../../src/domain/telephony/phone-number.ts';
import { sipExtensionDecider } from '../../src/domain/telephony/sip-extension.decide.ts';
import { sipUsernameDecider } from '../../src/domain/telephony/sip-username.decide.ts';
import type { SipUsernameEvent } from '../../src/domain/telephony/sip-username.ts';
import { trunkDecider, type TrunkCommand } from '../../src/domain/telephony/trunk.decide.ts';
import type { TrunkEvent, TrunkSettings } from '../../src/domain/telephony/trunk.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const ha1 = '0123456789abcdef0123456789abcdef';

describe('trunk decider', () => {
  const spec = deciderSpec(trunkDecider);
  const settings: TrunkSettings = { name: 'Carrier', allowedAddresses: ['203.0.113.0/24'], digest: null, outboundUri: 'sip:carrier.example.com' };
  const created: TrunkEvent = { type: 'TrunkCreated', data: { trunkId: 't1', ...settings } };
  const update = (data: Partial<TrunkSettings>): TrunkCommand => ({ type: 'UpdateTrunk', data: { trunkId: 't1', ...data }, metadata: meta() });

  it('creates a trunk with at least one allowed address', () => {
    spec.given([]).when({ type: 'CreateTrunk', data: { trunkId: 't1', ...settings }, metadata: meta() }).then([created]);
    spec.given([]).when({ type: 'CreateTrunk', data: { trunkId: 't1', ...settings, allowedAddresses: [] }, metadata: meta() }).thenThrows(ValidationError, /allowedAddresses/);
  });
  it('updates only what changed', () => {
    spec.given([created]).when(update({ name: 'Carrier', digest: { username: 'kefu', ha1 } })).then([{ type: 'TrunkUpdated', data: { digest: { username: 'kefu', ha1 } } }]);
    spec.given([created]).when(update({ allowedAddresses: ['203.0.113.0/24'] })).then([]);
    spec.given([created]).when(update({ outboundUri: null })).then([{ type: 'TrunkUpdated', data: { outboundUri: null } }]);
  });
  it('deletes once; an unknown or deleted trunk is NOT_FOUND for updates', () => {
    spec.given([created]).when({ type: 'DeleteTrunk', data: { trunkId: 't1' }, metadata: meta() }).then([{ type: 'TrunkDeleted', data: {} }]);
    spec.given([created, { type: 'TrunkDeleted', data: {} }]).when({ type: 'DeleteTrunk', data: { trunkId: 't1' }, metadata: meta() }).then([]);
    spec.given([created, { type: 'TrunkDeleted', data: {} }]).when(update({ name: 'x' })).thenThrows(NotFoundError);
    spec.given([]).when({ type: 'DeleteTrunk', data: { trunkId: 't1' }, metadata: meta() }).thenThrows(NotFoundError);
  });
});

describe('phone number decider', () => {
  const spec = deciderSpec(phoneNumberDecider);
  const bind = (instanceId: string, flowId = 'f1', number = '+86 10 1234-5678') => ({ type: 'BindNumber' as const, data: { number, flowId }, metadata: meta({ instanceId }) });
  const unbind = (instanceId: string) => ({ type: 'UnbindNumber' as const, data: { number: '+861012345678' }, metadata: meta({ instanceId }) });
  const bound: PhoneNumberEvent = { type: 'NumberBound', data: { instanceId: 'A', number: '+861012345678', flowId: 'f1' } };

  describe('when the number is free', () => {
    it('binds it, stored without separators', () => {
      spec.given([]).when(bind('A')).then([bound]);
    });
    it('refuses what is not a number', () => {
      spec.given([]).when(bind('A', 'f1', 'call me')).thenThrows(ValidationError, /number/);
    });
    it('cannot unbind it', () => {
      spec.given([]).when(unbind('A')).thenThrows(NotFoundError);
    });
  });

  describe('when bound to instance A', () => {
    it('refuses instance B: the number is in use', () => {
      spec.given([bound]).when(bind('B')).thenThrows(ConflictError, /number is in use/);
    });
    it('lets A bind it again (nothing changes) or move it to another flow', () => {
      spec.given([bound]).when(bind('A')).then([]);
      spec.given([bound]).when(bind('A', 'f2')).then([{ type: 'NumberBound', data: { instanceId: 'A', number: '+861012345678', flowId: 'f2' } }]);
    });
    it('lets A unbind it, and B is answered NOT_FOUND as for a number that is nowhere', () => {
      spec.given([bound]).when(unbind('A')).then([{ type: 'NumberUnbound', data: { instanceId: 'A', number: '+861012345678' } }]);
      spec.given([bound]).when(unbind('B')).thenThrows(NotFoundError);
    });
    it('is free for B once A unbound it', () => {
      spec.given([bound, { type: 'NumberUnbound', data: { instanceId: 'A', number: '+861012345678' } }]).when(bind('B')).then([{ type: 'NumberBound', data: { instanceId: 'B', number: '+861012345678', flowId: 'f1' } }]);
    });
  });
});

describe('SIP username decider', () => {
  const spec = deciderSpec(sipUsernameDecider);
  const claim = (instanceId: string, agentId: string, username = 'ann-1234') => ({ type: 'ClaimSipUsername' as const, data: { username, agentId }, metadata: meta({ instanceId }) });
  const claimed: SipUsernameEvent = { type: 'SipUsernameClaimed', data: { username: 'ann-1234', instanceId: 'A', agentId: 'ann' } };

  it('claims a free name, lower-cased; refuses a malformed one', () => {
    spec.given([]).when(claim('A', 'ann', 'Ann-1234')).then([claimed]);
    spec.given([]).when(claim('A', 'ann', 'a b')).thenThrows(ValidationError, /username/);
  });
  it('is idempotent for its holder and CONFLICT for anyone else, in any instance', () => {
    spec.given([claimed]).when(claim('A', 'ann')).then([]);
    spec.given([claimed]).when(claim('A', 'bob')).thenThrows(ConflictError, /in use/);
    spec.given([claimed]).when(claim('B', 'ann')).thenThrows(ConflictError, /in use/);
  });
  it('is released by its holder only', () => {
    spec.given([claimed]).when({ type: 'ReleaseSipUsername', data: { username: 'ann-1234', agentId: 'ann' }, metadata: meta({ instanceId: 'A' }) }).then([{ type: 'SipUsernameReleased', data: claimed.data }]);
    spec.given([claimed]).when({ type: 'ReleaseSipUsername', data: { username: 'ann-1234', agentId: 'bob' }, metadata: meta({ instanceId: 'A' }) }).then([]);
  });
});

describe('SIP extension decider', () => {
  const spec = deciderSpec(sipExtensionDecider);
  const set = (username: string, h = ha1) => ({ type: 'SetAgentSipCredentials' as const, data: { agentId: 'ann', username, ha1: h }, metadata: meta() });
  it('sets credentials; the same again changes nothing; a new password is a new event', () => {
    const event = { type: 'AgentSipCredentialsSet' as const, data: { agentId: 'ann', username: 'ann-1234', ha1 } };
    spec.given([]).when(set('ann-1234')).then([event]);
    spec.given([event]).when(set('ann-1234')).then([]);
    spec.given([event]).when(set('ann-1234', 'f'.repeat(32))).then([{ type: 'AgentSipCredentialsSet', data: { agentId: 'ann', username: 'ann-1234', ha1: 'f'.repeat(32) } }]);
  });
  it('keeps only an md5 HA1, never a password', () => {
    spec.given([]).when(set('ann-1234', 'password-123')).thenThrows(ValidationError, /ha1/);
  });
});
