// Runs a chat flow (OL-13) on a chat of a web channel or of a WeChat account (the callback's WechatInbound): the customer's messages and button clicks go into the
// pure engine (stepChatFlow), its actions come out to the ports in order. The engine's question whether
// anyone of a group is online is answered here (from the read model) and fed straight back, so one call
// runs until the flow waits for the customer again, routes or ends. A chat's steps run one at a time (a
// quick second message waits for the first), on the flow version the chat started with.
//
// The ports are the seams to the contact. Live chats use `commit` (contactChatFlowPorts): each step's actions
// and the place it leaves the chat at go onto the chat's contact stream in one append (AdvanceChatFlow), so
// a step is recorded exactly once, also when two processes or a retry take it: the contact's expected
// revision decides. Without `commit`, `perform` runs each action and `store` keeps the place
// (EventStoreChatFlowStore, a stream per chat).
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { CommandHandler } from '../../adapters/eventstore/command-handler.ts';
import { contactDecider, type NewChatMessage } from '../../domain/contact/contact.decide.ts';
import type { ContactState } from '../../domain/contact/contact.ts';
import { ConflictError } from '../../domain/errors.ts';
import type { ChatFlowDocument } from '../../domain/flow/chat-flow-document.ts';
import { chatFlowRunDecider } from '../../domain/flow/chat-flow-run.ts';
import { streams } from '../../domain/streams.ts';
import { parseChatFlowDocument } from '../../domain/flow/chat-flow-document.ts';
import { newChatFlowPosition, stepChatFlow, type ChatFlowAction, type ChatFlowInput, type ChatFlowPosition } from '../../domain/flow/chat-flow-engine.ts';
import type { ReadModel } from '../../projections/projection.ts';
import { skillGroupsTopic } from '../../projections/skill-groups/skill-groups.projection.ts';
import { flowsTopic } from '../../projections/flows/flows.projection.ts';
import type { Bus } from '../../domain/ports/bus.ts';
import { KeptUntilHeard } from '../../api/kept-until-heard.ts';
import type { EventStore, Position, RecordedEvent } from '../../domain/ports/event-store.ts';

/** Where a chat stands in its flow: which flow, at which version, and the engine's position. */
export interface ChatFlowRun {
  flowId: string;
  version: number;
  position: ChatFlowPosition;
  /** Steps recorded so far (commit: the next step names it as where it starts). */
  step?: number;
}

/** What the runner performs: every action but the question about agents, which it answers itself. */
export type PerformedAction = Exclude<ChatFlowAction, { type: 'checkAgentsOnline' }>;

export interface ChatFlowPorts {
  /** The clock (tests set it): business hours are decided by it. */
  now(): Date;
  /** Whether any agent of the group is online now (not offline, not forced offline). */
  anyAgentOnline(instanceId: string, skillGroupId: string): Promise<boolean>;
  /** Performs one action for the chat, in order (a failure stops the step; the stored place stays where it was). */
  perform(chat: ChatRef, action: PerformedAction): Promise<void>;
  /** A flow's document at a version (the current one when version is null), or null when it is gone. */
  loadFlow(instanceId: string, flowId: string, version: number | null): Promise<{ version: number; definition: ChatFlowDocument } | null>;
  store: ChatFlowStore;
  /**
   * Records one step at once: its actions and the run it leaves (from `previous`, null for the first). When
   * given, the runner calls it instead of `perform` and `store.set`. CONFLICT when the chat moved on meanwhile.
   */
  commit?(chat: ChatRef, step: { previous: ChatFlowRun | null; run: ChatFlowRun; actions: PerformedAction[]; carry?: unknown }): Promise<{ appended: Position | null; events?: unknown[] }>;
  /** Whether the skill group still takes chats (not deleted); a route to one that does not ends the chat (flowError). */
  skillGroupOpen?(instanceId: string, skillGroupId: string): Promise<boolean>;
}

export interface ChatRef {
  instanceId: string;
  contactId: string;
}

/** Keeps each chat's run (EventStoreChatFlowStore: a stream per chat). */
export interface ChatFlowStore {
  get(chat: ChatRef): Promise<ChatFlowRun | null>;
  /**
   * The run as this process last saw it, without a read; undefined when not known. It may be behind (another
   * process stepped the chat since): the runner takes it only for a chat waiting for the customer, and only
   * with `commit`, whose append at the chat's revision refuses a step taken from a place the chat has left.
   */
  peek?(chat: ChatRef): ChatFlowRun | null | undefined;
  /** Records a step from `previous` (null: the chat's first); CONFLICT when the chat moved on meanwhile. */
  set(chat: ChatRef, run: ChatFlowRun, previous: ChatFlowRun | null): Promise<void>;
}

export interface ChatFlowAdvance {
  /** The actions performed, in order, including each checkAgentsOnline asked and answered. */
  actions: ChatFlowAction[];
  run: ChatFlowRun | null;
  /** Where `commit` appended the step (read models show it once they reach this), when it did. */
  appended?: Position | null;
  /** What `commit` appended (when it did): `carry` went with it. */
  events?: unknown[];
  /** The input's `carry` was committed with the step. */
  carried?: boolean;
}

/** Questions about agents answered within one advance before giving up (a validated flow cannot loop on them). */
const maxAgentChecks = 20;

/**
 * One advance of the engine from `position` with `input`, performing its actions through `perform` and
 * answering checkAgentsOnline with `anyAgentOnline`; pure of storage (the caller keeps the position).
 */
export async function advanceChatFlow(
  flow: ChatFlowDocument,
  position: ChatFlowPosition,
  input: ChatFlowInput,
  io: { now: () => Date; anyAgentOnline: (skillGroupId: string) => Promise<boolean>; perform: (action: PerformedAction) => Promise<void> },
): Promise<{ actions: ChatFlowAction[]; position: ChatFlowPosition }> {
  const done: ChatFlowAction[] = [];
  let step = stepChatFlow(flow, position, input);
  for (let checks = 0; ; checks++) {
    let question: string | null = null;
    for (const action of step.actions) {
      done.push(action);
      if (action.type === 'checkAgentsOnline') {
        question = action.skillGroupId;
        break;
      }
      await io.perform(action);
    }
    if (question === null || checks >= maxAgentChecks) return { actions: done, position: step.position };
    const online = await io.anyAgentOnline(question);
    step = stepChatFlow(flow, step.position, { type: 'agentsOnline', online, now: io.now().toISOString() });
  }
}

/**
 * Drives chat flows for many chats: `start` when a chat of a channel with a flow begins, `message` and
 * `choice` for each customer input. Each chat's calls run one after another.
 */
export class ChatFlowRunner {
  private readonly tails = new Map<string, Promise<unknown>>();
  private readonly ports: ChatFlowPorts;

  constructor(ports: ChatFlowPorts) {
    this.ports = ports;
  }

  /** The flow's current version, as a chat started now would run it (from memory while the ports keep it). */
  currentFlow(instanceId: string, flowId: string): Promise<{ version: number; definition: ChatFlowDocument } | null> {
    return this.ports.loadFlow(instanceId, flowId, null);
  }

  /** Enters the chat into the flow's current version; a chat already in a flow is left as it is. */
  start(chat: ChatRef, flowId: string): Promise<ChatFlowAdvance> {
    return this.serial(chat, async () => {
      // A chat this process just started is in its memory, not yet in a flow: no read of its stream. If that memory
      // is behind (another process took the first step meanwhile), the step's append at the chat's revision is
      // refused and decided again on the stream as it is: the same step is nothing, another one a conflict (below).
      const known = this.ports.commit ? this.ports.store.peek?.(chat) : undefined;
      const existing = known === null ? null : await this.ports.store.get(chat);
      if (existing) return { actions: [], run: existing };
      const flow = await this.ports.loadFlow(chat.instanceId, flowId, null);
      const fresh: ChatFlowRun = { flowId, version: flow?.version ?? 0, position: newChatFlowPosition(), ...(this.ports.commit ? { step: 0 } : {}) };
      try {
        // A chat that entered a flow gone since (unbound and deleted meanwhile) ends rather than waits for nothing.
        if (!flow) return this.ports.commit ? await this.fail(chat, fresh) : { actions: [], run: null };
        return await this.advance(chat, fresh, flow.definition, { type: 'start', now: this.ports.now().toISOString() });
      } catch (err) {
        // Another process (or a retry) started it first: the chat as it stands.
        if (!(err instanceof ConflictError) || !this.ports.commit) throw err;
        return { actions: [], run: await this.ports.store.get(chat) };
      }
    });
  }

  /**
   * The first step of a chat about to start (`commit` ports only): what `start` would record, for the chat's start
   * to carry it (StartChat's firstStep: one append, one wait). Null when there is nothing to carry: no live flow
   * (the chat starts in it, and `start` ends it), or ports that record steps another way.
   */
  async firstStep(chat: ChatRef, flowId: string): Promise<{ version: number; actions: PerformedAction[]; position: ChatFlowPosition } | null> {
    if (!this.ports.commit) return null;
    const flow = await this.ports.loadFlow(chat.instanceId, flowId, null);
    if (!flow) return null;
    const planned = await this.plan(chat, newChatFlowPosition(), flow.definition, { type: 'start', now: this.ports.now().toISOString() });
    return { version: flow.version, actions: planned.performed, position: planned.position };
  }

  /** A message the customer typed; nothing when the chat is in no flow or its flow has ended. */
  message(chat: ChatRef, text: string, carry?: unknown): Promise<ChatFlowAdvance> {
    return this.input(chat, { type: 'message', text, now: this.ports.now().toISOString() }, carry);
  }

  /** A button the customer clicked. */
  choice(chat: ChatRef, number: number, carry?: unknown): Promise<ChatFlowAdvance> {
    return this.input(chat, { type: 'choice', number, now: this.ports.now().toISOString() }, carry);
  }

  /**
   * A customer's message stored without the step it should have taken (the process died between the two): fed
   * to the flow now, as the step from `atStep`, and only from there. The step's append at that place decides:
   * when the chat moved on meanwhile (another process fed it, or the customer's next message stepped it), this
   * does nothing, so the message steps the flow once at most.
   */
  resumeMessage(chat: ChatRef, text: string, atStep: number): Promise<ChatFlowAdvance> {
    return this.serial(chat, async () => {
      const run = await this.ports.store.get(chat);
      if (!run || run.position.status !== 'waiting' || (run.step ?? 0) !== atStep || !this.ports.commit) return { actions: [], run };
      try {
        const flow = await this.ports.loadFlow(chat.instanceId, run.flowId, run.version);
        if (!flow) return { actions: [], run };
        return await this.advance(chat, run, flow.definition, { type: 'message', text, now: this.ports.now().toISOString() });
      } catch (err) {
        if (err instanceof ConflictError) return { actions: [], run: await this.ports.store.get(chat) };
        throw err;
      }
    });
  }

  /** Whether the chat is still in its flow (so the customer's messages are the flow's, not yet an agent's). */
  async inFlow(chat: ChatRef): Promise<boolean> {
    const run = await this.ports.store.get(chat);
    return run !== null && run.position.status !== 'ended';
  }

  /**
   * `carry` goes to `commit` with the step this input takes (live chats: the customer's message itself, so
   * that it and the flow's answer are one append); `carried` says whether it went.
   */
  private input(chat: ChatRef, input: ChatFlowInput, carry?: unknown): Promise<ChatFlowAdvance> {
    return this.serial(chat, async () => {
      for (let attempt = 1; ; attempt++) {
        // First from memory (no read of the stream before the step's append): a run waiting for the customer. A
        // stale one fails that append (the contact's revision moved), and the next attempt reads the stream.
        const known = attempt === 1 && this.ports.commit ? this.ports.store.peek?.(chat) : undefined;
        const run = known?.position.status === 'waiting' ? known : await this.ports.store.get(chat);
        if (!run || run.position.status === 'ended') return { actions: [], run };
        try {
          const flow = await this.ports.loadFlow(chat.instanceId, run.flowId, run.version);
          // The version the chat started with is gone (it never is: versions stay): end the chat rather than strand it.
          if (!flow) return await this.fail(chat, run);
          return await this.advance(chat, run, flow.definition, input, carry);
        } catch (err) {
          // Another process stepped this chat meanwhile: this input goes on from where the chat is now.
          if (!(err instanceof ConflictError) || !this.ports.commit || attempt >= 3) throw err;
        }
      }
    });
  }

  /** Ends the chat with flowError (its flow cannot run). */
  private async fail(chat: ChatRef, run: ChatFlowRun): Promise<ChatFlowAdvance> {
    const outcome: PerformedAction = { type: 'end', reason: 'flowError' };
    const ended: ChatFlowRun = { ...run, position: { status: 'ended', outcome, variables: {} }, step: (run.step ?? 0) + 1 };
    const previous = run.position.status === 'new' ? null : run;
    if (this.ports.commit) {
      const { appended } = await this.ports.commit(chat, { previous, run: ended, actions: [outcome] });
      return { actions: [outcome], run: ended, appended };
    }
    await this.ports.perform(chat, outcome);
    await this.ports.store.set(chat, { flowId: ended.flowId, version: ended.version, position: ended.position }, previous);
    return { actions: [outcome], run: ended };
  }

  /**
   * One advance from `position` for `commit`: the actions to record (the route to a group deleted since the flow
   * was saved turned into a clear end, never a chat queued where nobody looks) and the position it leaves.
   */
  private async plan(chat: ChatRef, position: ChatFlowPosition, flow: ChatFlowDocument, input: ChatFlowInput): Promise<{ actions: ChatFlowAction[]; performed: PerformedAction[]; position: ChatFlowPosition }> {
    const performed: PerformedAction[] = [];
    const result = await advanceChatFlow(flow, position, input, {
      now: () => this.ports.now(),
      anyAgentOnline: (skillGroupId) => this.ports.anyAgentOnline(chat.instanceId, skillGroupId),
      perform: (action) => {
        performed.push(action);
        return Promise.resolve();
      },
    });
    const route = performed.at(-1);
    if (route?.type === 'route' && this.ports.skillGroupOpen && !(await this.ports.skillGroupOpen(chat.instanceId, route.skillGroupId))) {
      const outcome: PerformedAction = { type: 'end', reason: 'flowError' };
      performed[performed.length - 1] = outcome;
      const ended: ChatFlowPosition = { status: 'ended', outcome, variables: result.position.status === 'ended' ? result.position.variables : {} };
      return { actions: [...result.actions.slice(0, -1), outcome], performed, position: ended };
    }
    return { actions: result.actions, performed, position: result.position };
  }

  private async advance(chat: ChatRef, run: ChatFlowRun, flow: ChatFlowDocument, input: ChatFlowInput, carry?: unknown): Promise<ChatFlowAdvance> {
    const commit = this.ports.commit?.bind(this.ports);
    const previous = run.position.status === 'new' ? null : run;
    if (commit) {
      const planned = await this.plan(chat, run.position, flow, input);
      if (planned.actions.length === 0 && run.position.status !== 'new') return { actions: [], run };
      const next: ChatFlowRun = { ...run, position: planned.position, step: (run.step ?? 0) + 1 };
      const { appended, events } = await commit(chat, { previous, run: next, actions: planned.performed, ...(carry !== undefined ? { carry } : {}) });
      return { actions: planned.actions, run: next, appended, ...(events ? { events } : {}), ...(carry !== undefined ? { carried: true } : {}) };
    }
    const result = await advanceChatFlow(flow, run.position, input, {
      now: () => this.ports.now(),
      anyAgentOnline: (skillGroupId) => this.ports.anyAgentOnline(chat.instanceId, skillGroupId),
      perform: (action) => this.ports.perform(chat, action),
    });
    if (result.actions.length === 0 && run.position.status !== 'new') return { actions: [], run };
    const next: ChatFlowRun = { ...run, position: result.position };
    await this.ports.store.set(chat, next, previous);
    return { actions: result.actions, run: next };
  }

  /** Runs `task` after every earlier task of the same chat has settled. */
  private serial<T>(chat: ChatRef, task: () => Promise<T>): Promise<T> {
    const key = `${chat.instanceId}/${chat.contactId}`;
    const before = this.tails.get(key) ?? Promise.resolve();
    const run = before.then(task, task);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return run;
  }
}

/**
 * Ports over Kefu's own stores for live web chats: the flow versions, agents and groups from the read model,
 * and each step as one AdvanceChatFlow on the chat's contact (system:chat-flows): the flow's messages (SYSTEM
 * sender, with their buttons), the choice in the key trail, variables in the contact's data, then queued or
 * ended, and the chat's place in the flow, in one append at the contact's revision.
 */
export function contactChatFlowPorts(deps: { db: ReadModel; commands: CommandHandler; clock: () => Date; bus?: Bus; openGroups?: OpenSkillGroups; agentsOnline?: AgentsOnlineInMemory; heads?: ChatFlowHeads }): ChatFlowPorts {
  const openGroups = deps.openGroups ?? new OpenSkillGroups(deps.db, deps.bus ?? null);
  const heads = deps.heads ?? new ChatFlowHeads(deps.db, deps.bus ?? null);
  const metadata = (instanceId: string) => ({ now: deps.clock().toISOString(), instanceId, actor: 'system:chat-flows', correlationId: randomUUID() });
  // A flow's published versions never change: each chat's steps read its version from memory after the first.
  const versions = new Map<string, { version: number; definition: ChatFlowDocument }>();
  return {
    now: deps.clock,
    anyAgentOnline: (instanceId, skillGroupId) => anyAgentOnline(deps.db, instanceId, skillGroupId, deps.agentsOnline),
    async loadFlow(instanceId, flowId, version) {
      const key = (v: number) => `${instanceId}/${flowId}/${v}`;
      const known = version === null ? undefined : versions.get(key(version));
      if (known) return known;
      // A chat's start asks for the current version: which one it is comes from memory until the flow's change is
      // heard (ChatFlowHeads), its document from memory once any chat ran it (no statement per start, no parse).
      const flow = await loadChatFlowFromReadModel(deps.db, instanceId, flowId, version, (v) => versions.get(key(v)), heads);
      if (flow && !versions.has(key(flow.version))) {
        if (versions.size >= 1000) versions.delete(versions.keys().next().value!);
        versions.set(key(flow.version), flow);
      }
      return flow;
    },
    skillGroupOpen: (instanceId, skillGroupId) => openGroups.isOpen(instanceId, skillGroupId),
    store: {
      async get(chat) {
        const { state } = await deps.commands.load(streams.contact(chat.instanceId, chat.contactId), contactDecider);
        if (state.status === 'none' || !state.chatFlow) return null;
        const { flowId, version, position, step } = state.chatFlow;
        return { flowId, version, position, step };
      },
      peek(chat) {
        const state = deps.commands.peek<ContactState>(streams.contact(chat.instanceId, chat.contactId))?.state;
        if (!state) return undefined;
        if (state.status === 'none' || !state.chatFlow) return null;
        const { flowId, version, position, step } = state.chatFlow;
        return { flowId, version, position, step };
      },
      set: () => Promise.reject(new Error('contactChatFlowPorts records steps with commit')),
    },
    perform: () => Promise.reject(new Error('contactChatFlowPorts records steps with commit')),
    async commit(chat, { previous, run, actions, carry }) {
      const message = (carry as { message?: NewChatMessage } | undefined)?.message ?? null;
      const result = await deps.commands.handle(streams.contact(chat.instanceId, chat.contactId), contactDecider, {
        type: 'AdvanceChatFlow',
        data: { contactId: chat.contactId, flowId: run.flowId, version: run.version, fromStep: previous?.step ?? 0, actions, position: run.position, message },
        metadata: metadata(chat.instanceId),
      });
      return { appended: result.position, events: result.events };
    },
  };
}

/**
 * Whether a skill group still takes chats (not deleted), for a flow's route: from the read model, and, with a bus,
 * from memory for a group this process saw open in the last `ttlMs` and of which no change was published since
 * (the skill groups projection publishes each change of a group on the instance's skillGroups topic, after its
 * write). A flow's last step (the route) then sends no statement for it: under a chat load every statement on a
 * send's path waits its turn for one of the pool's connections. A deletion drops the group at once in every
 * process that hears it; one not heard (a NATS message lost in a reconnect) holds at most `ttlMs`. A deleted group
 * never opens again, so a closed answer is not kept (it is rare and final anyway).
 */
/** A flow's row without its document: its current version, kind, and whether it was deleted. */
export type ChatFlowHead = { version: number; kind: string; deleted_at: Date | null };

/**
 * Flows' current versions (issue 12: a chat's start read it, 0.33 statements per send of the chat-flow bench): from
 * memory until the flows projection publishes a change of the flow on the instance's flows topic (after its write;
 * heard by every process), `ttlMs` at most (a message lost in a NATS reconnect). A version published is used by the
 * next chat start in every process that hears it. Without a bus: read every time.
 */
export class ChatFlowHeads {
  /** Keys `<instanceId>/<flowId>`. */
  private readonly heads: KeptUntilHeard<ChatFlowHead | undefined>;

  constructor(db: ReadModel, bus: Bus | null, o: { ttlMs?: number; now?: () => number } = {}) {
    this.heads = new KeptUntilHeard({
      bus,
      load: (key) => {
        const [instanceId, flowId] = splitKey(key);
        return db.selectFrom('flows').select(['version', 'kind', 'deleted_at']).where('instance_id', '=', instanceId).where('id', '=', flowId).executeTakeFirst();
      },
      subjectOf: (key) => flowsTopic(splitKey(key)[0]),
      changed: (subject, message) => {
        const id = (message as { flowId?: unknown } | null)?.flowId;
        return typeof id === 'string' ? [`${subject.slice('kefu.'.length, -'.flows'.length)}/${id}`] : null;
      },
      maxAgeMs: o.ttlMs ?? 30_000,
      ...(o.now && { now: o.now }),
    });
  }

  get(instanceId: string, flowId: string): Promise<ChatFlowHead | undefined> {
    return this.heads.get(`${instanceId}/${flowId}`);
  }
}

export class OpenSkillGroups {
  /** Keys `<instanceId>/<skillGroupId>`; the instance's skillGroups topic tells their changes. */
  private readonly open: KeptUntilHeard<boolean>;

  constructor(db: ReadModel, bus: Bus | null, o: { ttlMs?: number; now?: () => number } = {}) {
    this.open = new KeptUntilHeard({
      bus,
      load: async (key) => {
        const [instanceId, skillGroupId] = splitKey(key);
        const row = await db.selectFrom('skill_groups').select('id').where('instance_id', '=', instanceId).where('id', '=', skillGroupId).where('deleted_at', 'is', null).executeTakeFirst();
        return row !== undefined;
      },
      subjectOf: (key) => skillGroupsTopic(splitKey(key)[0]),
      changed: (subject, message) => {
        const id = (message as { skillGroupId?: unknown } | null)?.skillGroupId;
        return typeof id === 'string' ? [`${subject.slice('kefu.'.length, -'.skillGroups'.length)}/${id}`] : null;
      },
      keep: (open) => open,
      maxAgeMs: o.ttlMs ?? 30_000,
      ...(o.now && { now: o.now }),
    });
  }

  isOpen(instanceId: string, skillGroupId: string): Promise<boolean> {
    return this.open.get(`${instanceId}/${skillGroupId}`);
  }
}

/** `<instanceId>/<rest>` (an instance id has no slash). */
function splitKey(key: string): [string, string] {
  const at = key.indexOf('/');
  return [key.slice(0, at), key.slice(at + 1)];
}

/**
 * Whether any member of a group is online as a routing process holds it in memory (Router.anyMemberOnlineNow), or
 * null when it cannot answer (it does not route here, or has not seen the group or a member yet).
 */
export type AgentsOnlineInMemory = (instanceId: string, skillGroupId: string) => boolean | null;

/**
 * Whether any member of the group is online: from `memory` (the router's state in the process that routes; no
 * statement on a flow's route, whose answer is otherwise a join of members, agents and groups on the send's path)
 * where it answers, else from the read model. Both fold the same events with the same rule.
 */
export async function anyAgentOnline(db: ReadModel, instanceId: string, skillGroupId: string, memory?: AgentsOnlineInMemory): Promise<boolean> {
  return memory?.(instanceId, skillGroupId) ?? anyAgentOnlineInReadModel(db, instanceId, skillGroupId);
}

/** Whether any member of the group is online, from the read model (agents not offline and not forced offline). */
export async function anyAgentOnlineInReadModel(db: ReadModel, instanceId: string, skillGroupId: string): Promise<boolean> {
  const row = await db
    .selectFrom('skill_group_members as m')
    .innerJoin('agents as a', (j) => j.onRef('a.instance_id', '=', 'm.instance_id').onRef('a.id', '=', 'm.agent_id'))
    .select('a.id')
    .where('m.instance_id', '=', instanceId)
    .where('m.skill_group_id', '=', skillGroupId)
    .where('a.deleted_at', 'is', null)
    // A deleted group has nobody online: its chats take the flow's "no agent online" branch.
    .where(({ exists, selectFrom }) =>
      exists(selectFrom('skill_groups as g').select('g.id').whereRef('g.instance_id', '=', 'm.instance_id').whereRef('g.id', '=', 'm.skill_group_id').where('g.deleted_at', 'is', null)),
    )
    .where('a.presence', '<>', 'OFFLINE')
    .where('a.forced_offline_reason', 'is', null)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * A CHAT flow's document from the read model: at a version, or the current one; null when there is none.
 * `known`: a version's document already at hand (published versions never change), used instead of reading it;
 * `heads`: the flow's current version kept in memory (ChatFlowHeads) instead of read.
 */
export async function loadChatFlowFromReadModel(
  db: ReadModel,
  instanceId: string,
  flowId: string,
  version: number | null,
  known?: (version: number) => { version: number; definition: ChatFlowDocument } | undefined,
  heads?: ChatFlowHeads,
): Promise<{ version: number; definition: ChatFlowDocument } | null> {
  const flow = heads
    ? await heads.get(instanceId, flowId)
    : await db.selectFrom('flows').select(['version', 'kind', 'deleted_at']).where('instance_id', '=', instanceId).where('id', '=', flowId).executeTakeFirst();
  // A chat keeps the version it started with, even of a flow deleted since; a new chat needs a live flow.
  if (!flow || flow.kind !== 'CHAT' || (version === null && flow.deleted_at !== null)) return null;
  const at = version ?? flow.version;
  const had = known?.(at);
  if (had) return had;
  const row = await db
    .selectFrom('flow_versions')
    .select(['version', 'definition'])
    .where('instance_id', '=', instanceId)
    .where('flow_id', '=', flowId)
    .where('version', '=', at)
    .executeTakeFirst();
  return row ? { version: row.version, definition: parseChatFlowDocument(row.definition) } : null;
}

/** A store in memory (unit tests). */
export class InMemoryChatFlowStore implements ChatFlowStore {
  private readonly runs = new Map<string, ChatFlowRun>();
  get(chat: ChatRef): Promise<ChatFlowRun | null> {
    return Promise.resolve(this.runs.get(`${chat.instanceId}/${chat.contactId}`) ?? null);
  }
  set(chat: ChatRef, run: ChatFlowRun, previous: ChatFlowRun | null): Promise<void> {
    const key = `${chat.instanceId}/${chat.contactId}`;
    const now = this.runs.get(key) ?? null;
    if (JSON.stringify(now?.position ?? null) !== JSON.stringify(previous?.position ?? null)) return Promise.reject(new ConflictError(`The chat ${chat.contactId} moved on in its flow meanwhile`));
    this.runs.set(key, run);
    return Promise.resolve();
  }
}

/** Each chat's run on its own stream (`chatflowrun-<instanceId>.<contactId>`): a restart finds every chat where it was. */
export class EventStoreChatFlowStore implements ChatFlowStore {
  private readonly commands: CommandHandler;
  private readonly clock: () => Date;

  constructor(commands: CommandHandler, clock: () => Date = () => new Date()) {
    this.commands = commands;
    this.clock = clock;
  }

  async get(chat: ChatRef): Promise<ChatFlowRun | null> {
    const { state } = await this.commands.load(streams.chatFlowRun(chat.instanceId, chat.contactId), chatFlowRunDecider);
    return state.status === 'running' ? { flowId: state.flowId, version: state.version, position: state.position } : null;
  }

  async set(chat: ChatRef, run: ChatFlowRun, previous: ChatFlowRun | null): Promise<void> {
    await this.commands.handle(streams.chatFlowRun(chat.instanceId, chat.contactId), chatFlowRunDecider, {
      type: 'RecordChatFlowStep',
      data: { contactId: chat.contactId, flowId: run.flowId, version: run.version, from: previous?.position ?? null, position: run.position },
      metadata: { now: this.clock().toISOString(), instanceId: chat.instanceId, actor: 'system:chat-flows', correlationId: randomUUID() },
    });
  }
}

/**
 * After a restart: chats that entered their channel's flow but whose first step never ran (the process died
 * between StartChat and it) take it now; chats already in their flow are left as they are (start is a no-op
 * for them). Returns how many chats were looked at.
 */
export async function resumeStartedChatFlows(db: ReadModel, runner: ChatFlowRunner, log: { warn: (o: object, m: string) => void }, store?: EventStore): Promise<number> {
  const rows = await db
    .selectFrom('contacts as c')
    .innerJoin('web_channels as w', (j) => j.onRef('w.instance_id', '=', 'c.instance_id').onRef('w.id', '=', 'c.web_channel_id'))
    .select(['c.instance_id', 'c.id', 'w.flow_id'])
    .where('c.status', '=', 'IN_FLOW')
    .where('w.flow_id', 'is not', null)
    .execute();
  // WeChat chats (issue 13) enter their account's flow the same way.
  const wechat = await db
    .selectFrom('contacts as c')
    .innerJoin('wechat_accounts as a', (j) => j.onRef('a.instance_id', '=', 'c.instance_id').on(sql<boolean>`a.id = c.source->>'wechatAccountId'`))
    .select(['c.instance_id', 'c.id', 'a.flow_id'])
    .where('c.status', '=', 'IN_FLOW')
    .where(sql<boolean>`c.source->>'kind' = 'WECHAT'`)
    .where('a.flow_id', 'is not', null)
    .execute();
  rows.push(...wechat);
  for (const r of rows) {
    const chat = { instanceId: r.instance_id, contactId: r.id };
    try {
      await runner.start(chat, r.flow_id!);
      if (store) await feedUnansweredMessages(store, runner, chat);
    } catch (err) {
      log.warn({ err, contactId: r.id }, 'a chat flow could not be resumed');
    }
  }
  return rows.length;
}

/**
 * The customer's texts a chat holds after its flow's last step (stored, but the step they should have taken
 * never ran: the process died in between), as the live path would have fed them: text without a file. With
 * the step number each is to be taken from (the last step's, then one more for each).
 */
export function unansweredMessages(events: Pick<RecordedEvent, 'type' | 'data'>[]): { texts: string[]; atStep: number } | null {
  let lastStep = -1;
  let step = 0;
  events.forEach((e, i) => {
    if (e.type === 'ContactChatFlowAdvanced') {
      lastStep = i;
      step = (e.data as { step: number }).step;
    }
  });
  // Never stepped: the first step (start) greets; words before it are no answer to it.
  if (lastStep < 0) return null;
  const texts: string[] = [];
  for (const e of events.slice(lastStep + 1)) {
    if (e.type !== 'ContactMessageRecorded') continue;
    const m = e.data as { from?: string; text?: string; attachment?: unknown; kind?: string };
    if (m.from === 'CUSTOMER' && (m.kind ?? 'TEXT') === 'TEXT' && !m.attachment && typeof m.text === 'string' && m.text !== '') texts.push(m.text);
  }
  return texts.length > 0 ? { texts, atStep: step } : null;
}

/** Feeds a chat's unanswered messages (unansweredMessages) to its flow in order, each once; stops where the chat moved on. */
export async function feedUnansweredMessages(store: EventStore, runner: ChatFlowRunner, chat: ChatRef): Promise<number> {
  const pending = unansweredMessages(await store.readStream(streams.contact(chat.instanceId, chat.contactId)));
  if (!pending) return 0;
  let atStep = pending.atStep;
  let fed = 0;
  for (const text of pending.texts) {
    const advance = await runner.resumeMessage(chat, text, atStep);
    // Nothing appended: another process fed it first, or the chat left that place (its flow ended, it queued).
    if (!advance.appended || !advance.run?.step) break;
    fed++;
    atStep = advance.run.step;
  }
  return fed;
}
