// Flow documents are checked in full on save; the flow decider versions them; the audio decider refuses
// to delete a recording a flow plays.
import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '../../src/domain/errors.ts';
import { audioFileDecider } from '../../src/domain/flow/audio-file.decide.ts';
import type { AudioFileEvent } from '../../src/domain/flow/audio-file.ts';
import { flowDecider, type FlowCommand } from '../../src/domain/flow/flow.decide.ts';
import type { FlowEvent } from '../../src/domain/flow/flow.ts';
import { flowReferences, parseFlowDocument } from '../../src/domain/flow/flow-document.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const group = '11111111-1111-4111-8111-111111111111';
const audio = '33333333-3333-4333-8333-333333333333';

const simple = {
  start: 'menu',
  nodes: [
    { id: 'menu', type: 'menu', prompt: { text: 'Press 1' }, options: { '1': { next: 'sales', label: 'Sales' } }, onFailure: 'bye' },
    { id: 'sales', type: 'route', skillGroupId: group },
    { id: 'bye', type: 'hangup', prompt: { audioId: audio } },
  ],
};

function problem(raw: unknown): { field: string; problem: string } {
  try {
    parseFlowDocument(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return { field: (err as ValidationError).field, problem: (err as ValidationError).problem };
  }
  throw new Error('expected a ValidationError');
}

const withNode = (i: number, patch: Record<string, unknown>) => ({ ...simple, nodes: simple.nodes.map((n, j) => (j === i ? { ...n, ...patch } : n)) });

describe('flow documents', () => {
  it('fills defaults: format version 1, menu timeout 5 s and 2 retries, collect terminator #', () => {
    const doc = parseFlowDocument({
      ...simple,
      nodes: [...simple.nodes, { id: 'c', type: 'collect', prompt: { text: 'PIN' }, variable: 'pin', maxDigits: 4, next: 'bye' }],
    });
    expect(doc.version).toBe(1);
    expect(doc.nodes[0]).toMatchObject({ timeoutSeconds: 5, retries: 2 });
    expect(doc.nodes[3]).toMatchObject({ minDigits: 1, terminator: '#', timeoutSeconds: 5 });
  });

  it('names the path of a dangling reference', () => {
    expect(problem(withNode(0, { options: { '1': { next: 'nowhere', label: 'Sales' } } }))).toEqual({ field: 'definition.nodes.0.options.1.next', problem: "no node 'nowhere'" });
    expect(problem(withNode(0, { onFailure: 'gone' })).field).toBe('definition.nodes.0.onFailure');
    expect(problem({ ...simple, start: 'nope' })).toEqual({ field: 'definition.start', problem: "no node 'nope'" });
  });

  it('refuses a missing start, duplicate ids, unknown node types and bad keys', () => {
    expect(problem({ nodes: simple.nodes }).field).toBe('definition.start');
    expect(problem({ ...simple, nodes: [...simple.nodes, { id: 'bye', type: 'hangup' }] })).toEqual({ field: 'definition.nodes.3.id', problem: "duplicate node id 'bye'" });
    expect(problem(withNode(2, { type: 'transfer' })).field).toBe('definition.nodes.2.type');
    expect(problem(withNode(0, { options: { '12': { next: 'sales', label: 'x' } } })).field).toMatch(/^definition\.nodes\.0\.options/);
  });

  it('refuses a bad time zone, bad times, equal open and close, and unreal holidays', () => {
    const hours = (patch: Record<string, unknown>) => ({
      start: 'h',
      nodes: [{ id: 'h', type: 'businessHours', timeZone: 'Asia/Shanghai', weekly: [{ days: ['MON'], open: '09:00', close: '18:00' }], open: 'x', closed: 'x', ...patch }, { id: 'x', type: 'hangup' }],
    });
    expect(problem(hours({ timeZone: 'Mars/Olympus' })).field).toBe('definition.nodes.0.timeZone');
    expect(problem(hours({ weekly: [{ days: ['MON'], open: '9:00', close: '18:00' }] })).field).toBe('definition.nodes.0.weekly.0.open');
    expect(problem(hours({ weekly: [{ days: ['MON'], open: '09:00', close: '25:00' }] })).field).toBe('definition.nodes.0.weekly.0.close');
    expect(problem(hours({ weekly: [{ days: ['MON'], open: '09:00', close: '09:00' }] })).field).toBe('definition.nodes.0.weekly.0.close');
    expect(problem(hours({ weekly: [{ days: ['MONDAY'], open: '09:00', close: '18:00' }] })).field).toBe('definition.nodes.0.weekly.0.days.0');
    expect(problem(hours({ holidays: ['2026-02-30'] })).field).toBe('definition.nodes.0.holidays.0');
    expect(parseFlowDocument(hours({ weekly: [{ days: ['MON'], open: '22:00', close: '06:00' }], holidays: [{ date: '2026-10-01', name: 'National Day' }] })).nodes).toHaveLength(2);
  });

  it('refuses a loop that never waits for the caller, but allows loops through a menu', () => {
    const loop = { start: 'a', nodes: [{ id: 'a', type: 'play', prompt: { text: 'a' }, next: 'b' }, { id: 'b', type: 'play', prompt: { text: 'b' }, next: 'a' }] };
    expect(problem(loop).problem).toMatch(/loops without waiting/);
    expect(() => parseFlowDocument({ ...simple, nodes: [...simple.nodes.slice(0, 2), { id: 'bye', type: 'play', prompt: { text: 'again' }, next: 'menu' }] })).not.toThrow();
  });

  it('allows unreachable nodes', () => {
    expect(() => parseFlowDocument({ ...simple, nodes: [...simple.nodes, { id: 'draft', type: 'hangup' }] })).not.toThrow();
  });

  it('refuses collect with minDigits above maxDigits, and a bad prompt', () => {
    expect(problem({ start: 'c', nodes: [{ id: 'c', type: 'collect', prompt: { text: 'x' }, variable: 'v', minDigits: 5, maxDigits: 4, next: 'c' }] }).field).toBe('definition.nodes.0.minDigits');
    expect(problem(withNode(0, { prompt: { audioId: 'not-a-uuid' } })).field).toMatch(/^definition\.nodes\.0\.prompt/);
  });

  it('lists the skill groups and recordings it names, with their paths', () => {
    const refs = flowReferences(parseFlowDocument(simple));
    expect([...refs.skillGroupIds]).toEqual([[group, 'definition.nodes.1.skillGroupId']]);
    expect([...refs.audioIds]).toEqual([[audio, 'definition.nodes.2.prompt.audioId']]);
  });
});

describe('flow decider', () => {
  const spec = deciderSpec(flowDecider);
  const doc = parseFlowDocument(simple);
  const created: FlowEvent = { type: 'FlowCreated', data: { flowId: 'f1', name: 'Reception', kind: 'IVR', definition: doc } };
  const update = (data: Partial<Extract<FlowCommand, { type: 'UpdateFlow' }>['data']>): FlowCommand => ({ type: 'UpdateFlow', data: { flowId: 'f1', ...data }, metadata: meta() });
  const changed = { ...simple, nodes: [...simple.nodes, { id: 'extra', type: 'hangup' }] };

  describe('when there is no flow', () => {
    it('creates version 1 with the parsed document', () => {
      spec.given([]).when({ type: 'CreateFlow', data: { flowId: 'f1', name: ' Reception ', kind: 'IVR', definition: simple }, metadata: meta() }).then([created]);
    });
    it('refuses a broken document', () => {
      spec.given([]).when({ type: 'CreateFlow', data: { flowId: 'f1', name: 'x', kind: 'IVR', definition: { start: 'a', nodes: [] } }, metadata: meta() }).thenThrows(ValidationError, /definition\.nodes/);
    });
    it('does not update or delete it', () => {
      spec.given([]).when(update({ name: 'x' })).thenThrows(NotFoundError);
      spec.given([]).when({ type: 'DeleteFlow', data: { flowId: 'f1', boundNumbers: [] }, metadata: meta() }).thenThrows(NotFoundError);
    });
  });

  describe('when the flow exists', () => {
    it('publishes a changed document as the next version', () => {
      spec.given([created]).when(update({ definition: changed })).then([{ type: 'FlowVersionPublished', data: { version: 2, definition: parseFlowDocument(changed) } }]);
      spec
        .given([created, { type: 'FlowVersionPublished', data: { version: 2, definition: parseFlowDocument(changed) } }])
        .when(update({ definition: simple }))
        .then([{ type: 'FlowVersionPublished', data: { version: 3, definition: doc } }]);
    });
    it('changes nothing for the same document, whatever its key order, and the same name', () => {
      const reordered = { nodes: simple.nodes.map((n) => Object.fromEntries(Object.entries(n).reverse())), start: 'menu' };
      spec.given([created]).when(update({ definition: reordered, name: 'Reception' })).then([]);
    });
    it('renames without a new version', () => {
      spec.given([created]).when(update({ name: 'Main line' })).then([{ type: 'FlowRenamed', data: { name: 'Main line' } }]);
    });
    it('refuses to delete it while numbers are bound, and deletes it once none are', () => {
      spec.given([created]).when({ type: 'DeleteFlow', data: { flowId: 'f1', boundNumbers: ['+861012345'] }, metadata: meta() }).thenThrows(ConflictError, /\+861012345/);
      spec.given([created]).when({ type: 'DeleteFlow', data: { flowId: 'f1', boundNumbers: [] }, metadata: meta() }).then([{ type: 'FlowDeleted', data: {} }]);
    });
  });

  describe('when the flow was deleted', () => {
    it('deleting again changes nothing; updating is NOT_FOUND', () => {
      const deleted: FlowEvent = { type: 'FlowDeleted', data: {} };
      spec.given([created, deleted]).when({ type: 'DeleteFlow', data: { flowId: 'f1', boundNumbers: [] }, metadata: meta() }).then([]);
      spec.given([created, deleted]).when(update({ name: 'x' })).thenThrows(NotFoundError);
    });
  });
});

describe('audio file decider', () => {
  const spec = deciderSpec(audioFileDecider);
  const facts = { audioId: audio, name: 'Welcome', durationMs: 1500, sampleRate: 8000, sizeBytes: 24044 };
  const uploaded: AudioFileEvent = { type: 'AudioUploaded', data: facts };
  const del = (usedBy: string[] = []) => ({ type: 'DeleteAudio' as const, data: { audioId: audio, usedBy }, metadata: meta() });

  it('records an upload once', () => {
    spec.given([]).when({ type: 'RecordAudioUpload', data: facts, metadata: meta() }).then([uploaded]);
    spec.given([uploaded]).when({ type: 'RecordAudioUpload', data: facts, metadata: meta() }).thenThrows(ConflictError);
  });
  it('refuses to delete a recording a flow plays', () => {
    spec.given([uploaded]).when(del(['Reception'])).thenThrows(ConflictError, /Reception/);
  });
  it('deletes it otherwise; again changes nothing; an unknown one is NOT_FOUND', () => {
    spec.given([uploaded]).when(del()).then([{ type: 'AudioDeleted', data: {} }]);
    spec.given([uploaded, { type: 'AudioDeleted', data: {} }]).when(del()).then([]);
    spec.given([]).when(del()).thenThrows(NotFoundError);
  });
});
