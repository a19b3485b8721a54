// WeChat accounts (issue 13) as a decider: created with sealed secrets into an ONLINE group, changed, deleted.
import { describe, it } from 'vitest';
import { wechatAccountDecider, type WechatAccountCommand } from '../../src/domain/wechat-account/wechat-account.decide.ts';
import type { WechatAccountEvent } from '../../src/domain/wechat-account/wechat-account.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../src/domain/errors.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const spec = deciderSpec(wechatAccountDecider);
const group = { id: 'g1', channel: 'ONLINE' };
const create = (over: Partial<Extract<WechatAccountCommand, { type: 'CreateWechatAccount' }>['data']> = {}): WechatAccountCommand => ({
  type: 'CreateWechatAccount',
  data: {
    wechatAccountId: 'w1',
    name: ' Shop ',
    kind: 'OFFICIAL_ACCOUNT',
    appId: 'wx0123456789abcdef',
    originalId: null,
    messageMode: 'SAFE',
    dataFormat: 'XML',
    skillGroupId: 'g1',
    skillGroup: group,
    flowId: null,
    sendQuota: 5,
    appSecret: 'v1.sealed-secret',
    token: 'v1.sealed-token',
    encodingAesKey: 'v1.sealed-key',
    ...over,
  },
  metadata: meta(),
});
const created: WechatAccountEvent = {
  type: 'WechatAccountCreated',
  data: {
    wechatAccountId: 'w1',
    name: 'Shop',
    kind: 'OFFICIAL_ACCOUNT',
    appId: 'wx0123456789abcdef',
    originalId: null,
    messageMode: 'SAFE',
    dataFormat: 'XML',
    skillGroupId: 'g1',
    flowId: null,
    sendQuota: 5,
    appSecret: 'v1.sealed-secret',
    token: 'v1.sealed-token',
    encodingAesKey: 'v1.sealed-key',
  },
};

describe('WeChat account', () => {
  describe('when none exists', () => {
    it('is created with its settings and sealed secrets', () => spec.given([]).when(create()).then([created]));
    it('needs a wx AppID', () => spec.given([]).when(create({ appId: 'abc' })).thenThrows(ValidationError, /appId/));
    it('needs an ONLINE skill group', () => spec.given([]).when(create({ skillGroup: { id: 'g1', channel: 'PHONE' } })).thenThrows(ValidationError, /ONLINE/));
    it('needs the EncodingAESKey in safe mode', () => spec.given([]).when(create({ encodingAesKey: null })).thenThrows(ValidationError, /encodingAesKey/));
    it('refuses JSON for an official account', () => spec.given([]).when(create({ dataFormat: 'JSON' })).thenThrows(ValidationError, /dataFormat/));
    it('takes JSON for a mini program', () =>
      spec
        .given([])
        .when(create({ kind: 'MINI_PROGRAM', dataFormat: 'JSON', messageMode: 'PLAIN', encodingAesKey: null }))
        .then([{ type: 'WechatAccountCreated', data: { ...created.data, kind: 'MINI_PROGRAM', dataFormat: 'JSON', messageMode: 'PLAIN', encodingAesKey: null } } as WechatAccountEvent]));
    it('refuses a quota of 0', () => spec.given([]).when(create({ sendQuota: 0 })).thenThrows(ValidationError, /sendQuota/));
  });
  describe('when it exists', () => {
    it('cannot be created twice', () => spec.given([created]).when(create()).thenThrows(ConflictError));
    it('changes settings and secrets apart', () =>
      spec
        .given([created])
        .when({ type: 'UpdateWechatAccount', data: { wechatAccountId: 'w1', name: 'Shop 2', token: 'v1.new', sendQuota: 20 }, metadata: meta() })
        .then([
          { type: 'WechatAccountUpdated', data: { name: 'Shop 2', sendQuota: 20 } },
          { type: 'WechatAccountSecretsChanged', data: { token: 'v1.new' } },
        ]));
    it('changes nothing when nothing differs', () => spec.given([created]).when({ type: 'UpdateWechatAccount', data: { wechatAccountId: 'w1', name: 'Shop' }, metadata: meta() }).then([]));
    it('keeps its key while in safe mode', () =>
      spec.given([created]).when({ type: 'UpdateWechatAccount', data: { wechatAccountId: 'w1', encodingAesKey: null }, metadata: meta() }).thenThrows(ValidationError, /encodingAesKey/));
    it('is deleted once', () => {
      spec.given([created]).when({ type: 'DeleteWechatAccount', data: { wechatAccountId: 'w1' }, metadata: meta() }).then([{ type: 'WechatAccountDeleted', data: {} }]);
      spec.given([created, { type: 'WechatAccountDeleted', data: {} }]).when({ type: 'DeleteWechatAccount', data: { wechatAccountId: 'w1' }, metadata: meta() }).then([]);
    });
  });
  it('an unknown account is NOT_FOUND', () => spec.given([]).when({ type: 'UpdateWechatAccount', data: { wechatAccountId: 'w1', name: 'X' }, metadata: meta() }).thenThrows(NotFoundError));
});
