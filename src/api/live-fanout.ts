// Live views at scale: one change is parsed once, executed once per group of subscribers that would see the
// same thing, serialized once, and written to the sockets in slices that yield to the event loop.
//
// graphql's subscribe() executes the selection for every message and every subscriber, and a server then
// JSON.stringifies each frame. Kefu's graphql-ws server (graphql-ws-server.ts) keeps the protocol
// (connection_init, subscribe, complete, errors before the start) and a live view takes over its stream: the
// subscription field's iterator yields nothing to the server; Kefu pumps the view's own messages (snapshot,
// then changes, filtered for this subscriber), gets the frame of each from a cache shared by every subscriber
// of the same group, and writes it. When the server closes the subscription (the client completes, the socket
// closes) its return() ends the pump. Without a socket (a test calling the resolver directly) the view's
// messages go back through the iterator: one execution per subscriber.
//
// Per subscriber, what is left is as little as a bare server's: once its snapshot is sent, the topic hands each
// message straight to its filter and the group's payload (attachDirect: no promise or turn per message), and
// the frame's bytes (WebSocket header, `{"type":"next","id":...,"payload":`, the payload) are built once per
// payload and id prefix and written to the TCP socket under ws, which adds nothing when nothing is compressed
// (rawTransport checks; otherwise the frame goes through ws's send).
//
// A group is: the same operation text with its fragments, the same variables, the same view of the data (the
// same instance and role; a plain agent only with themselves, since some fields show an agent their own
// data). A frame is never shared outside its group, so nothing crosses instances or roles.
import { execute, print, type ExecutionResult, type GraphQLResolveInfo, type DocumentNode } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import type { Bus } from '../domain/ports/bus.ts';
import type { Principal } from './auth.ts';

/** What Kefu needs of a ws socket. */
export interface LiveSocket {
  readonly protocol: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string, cb?: (err?: Error) => void): void;
  close(code?: number, reason?: string): void;
  terminate?(): void;
}

/** The close code for a subscriber that stopped reading: 1013 "try again later" (graphql-ws clients retry, and start again with the current state). */
export const slowConsumerCloseCode = 1013;

export interface LiveFanoutOptions {
  /** Unread bytes a socket may hold before it is closed as a slow consumer. */
  maxUnreadBytes?: number;
  /** Messages a subscriber may have waiting for their frame before it is closed as a slow consumer. */
  maxPendingMessages?: number;
  /** How long one slice of writes may run before the writer yields to the event loop. */
  sliceMs?: number;
  /** Subscribers a message is handed to per turn of the event loop (their filters, frames and writes follow it). */
  deliverSlice?: number;
  /** Formats an execution that has errors, as mercurius's errorFormatter. */
  formatErrors: (result: ExecutionResult, context: unknown) => { response: unknown };
  /** Turns sharing off (each subscriber executes on its own), for comparison in tests and the bench. */
  share?: boolean;
  log?: { info(obj: object, msg: string): void };
}

/** The subscription context fields Kefu adds (see app.ts) and the graphql-ws server gives (`id`). */
interface LiveContext {
  principal?: Principal | null;
  live?: LiveFanout;
  liveSocket?: LiveSocket;
  id?: string | number;
}

type SubscribeFn = (root: unknown, args: never, ctx: never, info: GraphQLResolveInfo) => unknown;
type FilterFn<T> = (payload: T, args: never, ctx: never, info: GraphQLResolveInfo) => boolean | Promise<boolean>;

const OPEN = 1;

/**
 * A subscription field's `subscribe`: the view's messages (kept for this subscriber by `filter`) go out through
 * the shared fan-out. Errors thrown while subscribing reach the client as an error frame.
 */
export function liveSubscription<T>(subscribe: SubscribeFn, filter?: FilterFn<T>) {
  return async (root: unknown, args: never, ctx: never, info: GraphQLResolveInfo): Promise<AsyncIterator<unknown> & AsyncIterable<unknown>> => {
    let messages: AsyncIterator<T>;
    try {
      messages = ((await subscribe(root, args, ctx, info)) as AsyncIterable<T>)[Symbol.asyncIterator]();
    } catch (error) {
      // As mercurius's withFilter did: the refusal comes with the first message, and the server sends it as an error frame.
      return failing(error);
    }
    const keep = filter ? (m: T) => filter(m, args, ctx, info) : null;
    const live = ctx as LiveContext;
    if (!live.live || !live.liveSocket || live.id === undefined) return asIterable(keep ? filtered(messages, keep) : messages);
    return live.live.serve(messages, live as Required<Pick<LiveContext, 'liveSocket' | 'id'>> & LiveContext, info, keep);
  };
}

type Deliver = (m: unknown) => void;

/**
 * The fast path of a live subscriber: a message source that has nothing waiting can hand each later message to
 * a function as it arrives (`source[attachDirect](handler)` answers whether it did), instead of through next():
 * no promise, iterator result or turn per message and subscriber. The topic's queue and snapshotThenChanges
 * implement it; what does not falls back to next().
 */
export const attachDirect = Symbol('attachDirect');
export interface DirectSource<T> {
  /**
   * `onEnd`, when the source takes it, is told the source's end or error after it attached (a source whose
   * messages come only from its topic never ends on its own: it takes none).
   */
  [attachDirect]?(handler: (message: T) => void, onEnd?: (error?: unknown) => void): boolean;
}

interface Topic {
  subscribers: Set<Deliver>;
  ready: Promise<() => Promise<void>>;
  /** Messages still being handed out, each to the subscribers it had when it arrived, in order. */
  backlog: { message: unknown; targets: Deliver[] }[];
  /** The next target of backlog[0]. */
  cursor: number;
  draining: boolean;
}

/**
 * Parses each bus message once per process and hands the same (frozen) object to every subscriber of its topic.
 * Each subscriber's share of the work (its view's filter, its frame, its write) runs in the promise jobs that
 * follow the handing out, so a message goes to at most `deliverSlice` subscribers per turn of the event loop:
 * a thousand subscribers never hold the loop in one piece.
 */
export class LiveTopics {
  private readonly bus: Bus;
  private readonly topics = new Map<string, Topic>();

  private readonly maxPendingMessages: number;
  private readonly deliverSlice: number;
  /** Topics handing a message out in slices. */
  private drainingTopics = 0;
  /** Called when the last topic handing out in slices is done. */
  onDrained: (() => void) | null = null;

  constructor(bus: Bus, maxPendingMessages = 1000, deliverSlice = 128) {
    this.bus = bus;
    this.maxPendingMessages = maxPendingMessages;
    this.deliverSlice = deliverSlice;
  }

  /** Some topic is still handing a message out (in slices, a turn of the event loop each). */
  get draining(): boolean {
    return this.drainingTopics > 0;
  }

  private deliver(topic: Topic, message: unknown): void {
    deepFreeze(message);
    if (!topic.draining && topic.subscribers.size <= this.deliverSlice) {
      for (const deliver of topic.subscribers) deliver(message);
      return;
    }
    topic.backlog.push({ message, targets: [...topic.subscribers] });
    if (!topic.draining) this.drain(topic);
  }

  /** Hands out the backlog, `deliverSlice` subscribers at a time, yielding (setImmediate) between slices. */
  private drain(topic: Topic): void {
    if (!topic.draining) this.drainingTopics++;
    topic.draining = true;
    let budget = this.deliverSlice;
    while (topic.backlog.length > 0) {
      const head = topic.backlog[0]!;
      while (topic.cursor < head.targets.length && budget > 0) {
        head.targets[topic.cursor++]!(head.message);
        budget--;
      }
      if (topic.cursor < head.targets.length) {
        setImmediate(() => this.drain(topic));
        return;
      }
      topic.backlog.shift();
      topic.cursor = 0;
    }
    topic.draining = false;
    if (--this.drainingTopics === 0) this.onDrained?.();
  }

  /** Resolves once the topic is live on the bus; `return()` ends this subscriber's part. */
  async subscribe(topic: string): Promise<AsyncIterableIterator<unknown>> {
    let entry = this.topics.get(topic);
    if (!entry) {
      const created: Topic = { subscribers: new Set(), ready: null as never, backlog: [], cursor: 0, draining: false };
      created.ready = this.bus.subscribe(topic, (message) => this.deliver(created, message));
      entry = created;
      this.topics.set(topic, entry);
      created.ready.catch(() => this.topics.get(topic) === created && this.topics.delete(topic));
    }
    const mine = entry;
    const queue = new MessageQueue<unknown>(this.maxPendingMessages, () => {
      mine.subscribers.delete(queue.push);
      if (mine.subscribers.size === 0 && this.topics.get(topic) === mine) {
        this.topics.delete(topic);
        void mine.ready.then((unsubscribe) => unsubscribe()).catch(() => undefined);
      }
    });
    mine.subscribers.add(queue.push);
    try {
      await mine.ready;
    } catch (err) {
      void queue.return();
      throw err;
    }
    return queue;
  }

  /** Subscribers per topic, for tests and the bench. */
  get topicCount(): number {
    return this.topics.size;
  }
}

/** Thrown to a subscriber's pump when more messages wait for it than it may hold. */
export class SlowConsumerError extends Error {}

/**
 * A subscriber's messages in order, waiting for its reader; return() ends it at once, even while a next()
 * waits. More than `max` waiting ends it with SlowConsumerError: a reader that fell that far behind is cut off.
 */
class MessageQueue<T> implements AsyncIterableIterator<T> {
  private readonly items: T[] = [];
  private wake: ((r: IteratorResult<T>) => void) | null = null;
  private done = false;
  private overflow: SlowConsumerError | null = null;
  /** Set by attachDirect: each message goes to it as it comes. */
  private direct: ((item: T) => void) | null = null;
  private readonly max: number;
  private readonly onEnd: () => void;

  constructor(max: number, onEnd: () => void) {
    this.max = max;
    this.onEnd = onEnd;
  }

  readonly push = (item: T): void => {
    if (this.done) return; // arrived after the subscription closed: dropped
    if (this.direct) {
      this.direct(item);
      return;
    }
    const w = this.wake;
    if (w) {
      this.wake = null;
      w({ value: item, done: false });
    } else if (this.items.length < this.max) this.items.push(item);
    else {
      this.overflow = new SlowConsumerError(`more than ${this.max} messages waiting`);
      void this.return();
    }
  };

  next(): Promise<IteratorResult<T>> {
    if (this.overflow) return Promise.reject(this.overflow);
    if (this.items.length > 0) return Promise.resolve({ value: this.items.shift()!, done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.wake = resolve));
  }

  return(): Promise<IteratorResult<T>> {
    if (!this.done) {
      this.done = true;
      this.items.length = 0;
      this.onEnd();
      const w = this.wake;
      this.wake = null;
      w?.({ value: undefined, done: true });
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  /** From now on messages go to `handler`; a next() waiting meanwhile ends (done): its reader gave its place to the handler. */
  [attachDirect](handler: (item: T) => void): boolean {
    if (this.done || this.overflow || this.items.length > 0 || this.direct) return false;
    this.direct = handler;
    const w = this.wake;
    this.wake = null;
    w?.({ value: undefined, done: true });
    return true;
  }

  [Symbol.asyncIterator]() {
    return this;
  }
}

/**
 * One group's payload for one message: its JSON text once executed, and its frames as they go on the wire,
 * built once per `"type"/"id"` prefix (a thousand subscribers whose client numbered its subscription "1" take
 * the same bytes).
 */
interface Payload {
  text: string | null;
  pending: Promise<string> | null;
  /** prefix -> the whole WebSocket frame (header, prefix, text, "}"), for the first few prefixes. */
  wire: Map<string, Buffer> | null;
  /** The text and "}" as bytes, for subscribers whose prefix is not among those (each writes its header and prefix, then these). */
  body: Buffer | null;
  /** Called once the frame was handed to the socket (write()). */
  done?: () => void;
}

/**
 * Whole frames kept per payload: clients of the graphql-ws library number subscriptions with UUIDs, so past a
 * few prefixes they are all different, and a whole frame each would copy the payload once per subscriber.
 */
const wholeFramesPerPayload = 8;

export class LiveFanout {
  readonly topics: LiveTopics;
  private readonly maxUnreadBytes: number;
  private readonly sliceMs: number;
  private readonly formatErrors: LiveFanoutOptions['formatErrors'];
  private readonly share: boolean;
  private readonly log: LiveFanoutOptions['log'];
  private readonly maxPendingMessages: number;
  /** Per message object (parsed once), per group: its frame's payload text (once executed). Gone with the message. */
  private readonly frames = new WeakMap<object, Map<string, Payload>>();
  /** Each operation's text with its fragments, printed once per document. */
  private readonly operationTexts = new WeakMap<object, string>();
  /** Frames waiting to be written, as three parallel queues (no object per write): socket, prefix, payload. */
  private readonly writeSockets: LiveSocket[] = [];
  private readonly writePrefixes: string[] = [];
  private readonly writePayloads: Payload[] = [];
  private writeHead = 0;
  private flushScheduled = false;
  /** A flush ran (or is queued) as a microtask in this turn of the event loop; endTurn clears it. */
  private microFlushInTurn = false;
  private readonly endTurn = (): void => {
    this.microFlushInTurn = false;
  };
  /** whenWritten's callers, told when the fan-out is idle. */
  private idleWaiters: (() => void)[] = [];
  /** Executions run, frames written: for tests and the bench. */
  readonly counts = { executions: 0, compiledExecutions: 0, frames: 0, rawFrames: 0, groupedFrames: 0, slowConsumersClosed: 0, directAttachments: 0 };

  constructor(bus: Bus, options: LiveFanoutOptions) {
    this.topics = new LiveTopics(bus, options.maxPendingMessages ?? 1000, options.deliverSlice ?? 128);
    this.maxUnreadBytes = options.maxUnreadBytes ?? 1024 * 1024;
    this.maxPendingMessages = options.maxPendingMessages ?? 1000;
    this.sliceMs = options.sliceMs ?? 4;
    this.formatErrors = options.formatErrors;
    this.share = options.share ?? true;
    this.log = options.log;
    this.topics.onDrained = () => this.tellIdle();
  }

  /**
   * Null when no message is being handed out and no frame waits to be written; else resolves once that is so.
   * Background work (projections that only store) waits for it, so that a change's frames are not written in
   * turns shared with statements that nobody watching waits for. (A frame whose execution is still running is
   * not waited for.)
   */
  whenWritten(): Promise<void> | null {
    if (!this.flushScheduled && !this.topics.draining) return null;
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private tellIdle(): void {
    if (this.idleWaiters.length === 0 || this.flushScheduled || this.topics.draining) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Pumps one subscriber's messages to its socket; the iterator given back to the server ends with the pump. */
  serve<T>(
    messages: AsyncIterator<T>,
    ctx: LiveContext & { liveSocket: LiveSocket; id: string | number },
    info: GraphQLResolveInfo,
    keep: ((m: T) => boolean | Promise<boolean>) | null = null,
  ): AsyncIterableIterator<never> {
    const socket = ctx.liveSocket;
    const group = `${viewOf(ctx.principal)}\n${this.operationText(info)}\n${JSON.stringify(info.variableValues)}`;
    const prefix = `{"type":"${socket.protocol === 'graphql-ws' ? 'data' : 'next'}","id":${JSON.stringify(String(ctx.id))},"payload":`;
    let stopped = false;
    let finish!: (r: IteratorResult<never>) => void;
    let fail!: (e: unknown) => void;
    const ended = new Promise<IteratorResult<never>>((resolve, reject) => {
      finish = resolve;
      fail = reject;
    });
    // Nobody may be awaiting `ended` when it fails (the server already returned): no unhandled rejection.
    ended.catch(() => undefined);

    const stop = (error: unknown): void => {
      if (stopped) return;
      stopped = true;
      void Promise.resolve(messages.return?.()).catch(() => undefined);
      if (error instanceof SlowConsumerError) {
        this.closeSlow(socket, error.message);
        finish({ value: undefined as never, done: true });
      } else fail(error);
    };
    /** One message: the subscriber's filter, the group's payload, the write; a promise only when one of them is not ready. */
    const emit = (payload: Payload): void => {
      // Not awaited: the writer keeps each socket's frames in order.
      if (!stopped) this.enqueue(socket, prefix, payload);
    };
    const framed = (message: T): Promise<void> | undefined => {
      const payload = this.frameOf(message, group, ctx, info);
      // Once the group's first subscriber has it, the others take it at once.
      if (payload.text === null) return payload.pending!.then(() => emit(payload));
      emit(payload);
      return undefined;
    };
    const handle = (message: T): Promise<void> | undefined => {
      if (keep) {
        // The subscriber's filter, here rather than as another iterator: one turn less per message.
        const kept = passes(keep, message);
        if (kept === false) return;
        if (kept !== true) return kept.then((k) => (k && !stopped ? framed(message) : undefined));
      }
      return framed(message);
    };

    // Direct delivery: messages that came while one was waiting for its filter or payload, in order.
    let waiting: T[] | null = null;
    const resume = (): void => {
      while (waiting !== null && waiting.length > 0 && !stopped) {
        let p: Promise<void> | undefined;
        try {
          p = handle(waiting.shift()!);
        } catch (error) {
          return stop(error);
        }
        if (p) return void p.then(resume, stop);
      }
      waiting = null;
    };
    const direct = (message: T): void => {
      if (stopped) return;
      if (waiting !== null) {
        if (waiting.length >= this.maxPendingMessages) stop(new SlowConsumerError(`more than ${this.maxPendingMessages} messages waiting`));
        else waiting.push(message);
        return;
      }
      let p: Promise<void> | undefined;
      try {
        p = handle(message);
      } catch (error) {
        return stop(error);
      }
      if (p) {
        waiting = [];
        p.then(resume, stop);
      }
    };
    const source = messages as AsyncIterator<T> & DirectSource<T>;
    /** The end of an attached source: as if its next() had ended or thrown. */
    const directEnd = (error?: unknown): void => {
      if (error !== undefined) return stop(error);
      if (stopped) return;
      stopped = true;
      finish({ value: undefined as never, done: true });
    };

    void (async () => {
      try {
        for (;;) {
          // Nothing waiting (the snapshot sent): later messages come straight to `direct`.
          if (!stopped && source[attachDirect]?.(direct, directEnd)) {
            this.counts.directAttachments++;
            return;
          }
          const r = await messages.next();
          if (r.done || stopped) break;
          const p = handle(r.value);
          if (p) await p;
        }
        finish({ value: undefined as never, done: true });
      } catch (error) {
        if (error instanceof SlowConsumerError) {
          this.closeSlow(socket, error.message);
          finish({ value: undefined as never, done: true });
        } else fail(error);
      }
    })();

    const iterator: AsyncIterableIterator<never> = {
      next: () => ended,
      return: async () => {
        stopped = true;
        await messages.return?.();
        finish({ value: undefined as never, done: true });
        return { value: undefined as never, done: true };
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  /** The payload of one message for one group: executed and serialized by the first subscriber of the group to need it. */
  private frameOf(message: unknown, group: string, ctx: LiveContext, info: GraphQLResolveInfo): Payload {
    if (!this.share || message === null || typeof message !== 'object') return this.payloadOf(this.executeFor(message, ctx, info));
    let byGroup = this.frames.get(message);
    if (!byGroup) {
      byGroup = new Map();
      this.frames.set(message, byGroup);
    }
    let payload = byGroup.get(group);
    if (!payload) {
      payload = this.payloadOf(this.executeFor(message, ctx, info));
      byGroup.set(group, payload);
    }
    return payload;
  }

  private payloadOf(execution: string | Promise<string>): Payload {
    if (typeof execution === 'string') return { text: execution, pending: null, wire: null, body: null };
    const payload: Payload = { text: null, pending: null, wire: null, body: null };
    payload.pending = execution.then((text) => {
      payload.text = text;
      payload.pending = null;
      return text;
    });
    // A subscriber that stopped meanwhile never awaits it: no unhandled rejection.
    payload.pending.catch(() => undefined);
    return payload;
  }

  /** The payload's text; at once when every resolver of the selection answers at once (then the group's other subscribers take it in the same turn). */
  private executeFor(message: unknown, ctx: LiveContext, info: GraphQLResolveInfo): string | Promise<string> {
    this.counts.executions++;
    let result: ExecutionResult | Promise<ExecutionResult>;
    try {
      const compiled = compiledOf(info);
      if (compiled) {
        this.counts.compiledExecutions++;
        const r = compiled.query(message, ctx, rawVariables(info.variableValues)) as ExecutionResult | Promise<ExecutionResult>;
        return r instanceof Promise ? r.then((x) => this.serialize(x, ctx)) : this.serialize(r, ctx);
      }
      result = execute({
        schema: info.schema,
        document: documentOf(info),
        rootValue: message,
        contextValue: ctx,
        // Coerced once at subscribe; their JSON is what the client sent, as far as Kefu's scalars go (made once
        // per subscription: execute reads it, never changes it).
        variableValues: rawVariables(info.variableValues),
        operationName: info.operation.name?.value ?? null,
      });
    } catch (error) {
      return Promise.reject(error);
    }
    return result instanceof Promise ? result.then((r) => this.serialize(r, ctx)) : this.serialize(result, ctx);
  }

  private serialize(result: ExecutionResult, ctx: LiveContext): string {
    const response = result.errors && result.errors.length > 0 ? this.formatErrors(result, ctx).response : result;
    return JSON.stringify(response);
  }

  private operationText(info: GraphQLResolveInfo): string {
    let text = this.operationTexts.get(info.operation);
    if (text === undefined) {
      const fragments = Object.keys(info.fragments)
        .sort()
        .map((name) => print(info.fragments[name]!));
      text = [print(info.operation), ...fragments].join('\n');
      this.operationTexts.set(info.operation, text);
    }
    return text;
  }

  /** Queues a whole frame's text; resolves once it was handed to the socket (or dropped with a closed socket). */
  write(socket: LiveSocket, frame: string): Promise<void> {
    return new Promise((done) => this.enqueue(socket, '', { text: frame, pending: null, wire: new Map([['', wireFrame(frame)]]), body: null, done }));
  }

  /** Queues the frame `prefix + payload + "}"` (or the payload alone with the prefix ''). */
  private enqueue(socket: LiveSocket, prefix: string, payload: Payload): void {
    this.writeSockets.push(socket);
    this.writePrefixes.push(prefix);
    this.writePayloads.push(payload);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // A change's first slice goes out as soon as the code that queued it is done, not after the turn's other
      // callbacks (on PGlite, a transaction queued meanwhile would run first, statement after statement). Once
      // per turn of the event loop only: writes queued again and again in one turn (a producer awaiting each
      // write) still yield to the loop between slices, so sockets drain and requests get their turn.
      if (this.microFlushInTurn) setImmediate(this.flush);
      else {
        this.microFlushInTurn = true;
        setImmediate(this.endTurn);
        queueMicrotask(this.flush);
      }
    }
  }


  /** TCP sockets written in this slice of flush, and those of them corked (a second frame in the slice). */
  private readonly sliceWritten = new Set<RawTcp>();
  private readonly sliceCorked: RawTcp[] = [];

  /** Writes for at most sliceMs, then yields (setImmediate) so that requests and SIP keep their latency. */
  private readonly flush = (): void => {
    const until = performance.now() + this.sliceMs;
    const sockets = this.writeSockets;
    let n = 0;
    try {
      while (this.writeHead < sockets.length) {
        const k = this.writeHead++;
        const payload = this.writePayloads[k]!;
        this.writeOne(sockets[k]!, this.writePrefixes[k]!, payload);
        payload.done?.();
        // Checking the clock every 32 writes keeps its cost out of the loop.
        if (++n % 32 === 0 && performance.now() > until) break;
      }
    } finally {
      // A socket's later frames in the slice (an agent's chats, a busy conversation's batch) go out together in
      // one writev: one system call for them instead of one each.
      for (const tcp of this.sliceCorked) tcp.uncork();
      this.sliceCorked.length = 0;
      this.sliceWritten.clear();
    }
    if (this.writeHead >= sockets.length) {
      sockets.length = 0;
      this.writePrefixes.length = 0;
      this.writePayloads.length = 0;
      this.writeHead = 0;
      this.flushScheduled = false;
      this.tellIdle();
    } else {
      if (this.writeHead > 4096) {
        sockets.splice(0, this.writeHead);
        this.writePrefixes.splice(0, this.writeHead);
        this.writePayloads.splice(0, this.writeHead);
        this.writeHead = 0;
      }
      setImmediate(this.flush);
    }
  };

  private writeOne(socket: LiveSocket, prefix: string, payload: Payload): void {
    if (socket.readyState !== OPEN) return;
    if (socket.bufferedAmount > this.maxUnreadBytes) {
      this.closeSlow(socket, `${socket.bufferedAmount} bytes unread`);
      return;
    }
    this.counts.frames++;
    // ws reports a failed write through 'error'/'close', which the graphql-ws server handles.
    const tcp = rawTransport(socket);
    if (!tcp) {
      socket.send(prefix === '' ? payload.text! : prefix + payload.text! + '}');
      return;
    }
    // The frame's bytes go straight to the TCP socket, built once per payload for each of its first prefixes.
    this.counts.rawFrames++;
    let wire = payload.wire?.get(prefix);
    if (wire === undefined && (payload.wire === null || payload.wire.size < wholeFramesPerPayload)) {
      wire = wireFrame(prefix === '' ? payload.text! : prefix + payload.text! + '}');
      (payload.wire ??= new Map()).set(prefix, wire);
    }
    // The socket's first frame in the slice goes at once (no added latency); from its second on, the socket is
    // corked until the slice ends (flush uncorks it).
    if (this.sliceWritten.has(tcp)) {
      if (tcp.writableCorked === 0) {
        tcp.cork();
        this.sliceCorked.push(tcp);
      }
      this.counts.groupedFrames++;
    } else this.sliceWritten.add(tcp);
    if (wire !== undefined) {
      tcp.write(wire);
      return;
    }
    // Past those: this subscriber's header and prefix, then the payload's shared bytes, in one writev.
    const body = (payload.body ??= Buffer.from(payload.text + '}'));
    tcp.cork();
    tcp.write(wireHead(prefix, body.length));
    tcp.write(body);
    tcp.uncork();
  }

  private closeSlow(socket: LiveSocket, why: string): void {
    if (socket.readyState !== OPEN) return;
    this.counts.slowConsumersClosed++;
    this.log?.info({ why }, 'live view subscriber closed: it stopped reading');
    socket.close(slowConsumerCloseCode, 'Slow consumer: too much unread data');
    // A peer that reads nothing never reads the close frame either: drop the connection after a grace period.
    setTimeout(() => socket.terminate?.(), 5000).unref();
  }
}

/** Who sees what: instance and role; a plain agent sees some fields of their own only, so their view is theirs. */
export function viewOf(p: Principal | null | undefined): string {
  if (!p) return 'anonymous';
  if (p.kind === 'operator') return 'operator';
  if (p.kind === 'apiKey') return `${p.instanceId}|apiKey|${p.role}`;
  if (p.kind === 'customer') return `${p.instanceId}|customer|${p.verified ? 'verified' : 'visitor'}|${p.webChannelId}|${p.customerId}`;
  return `${p.instanceId}|agent|${p.role}${p.role === 'AGENT' ? `|${p.agentId}` : ''}`;
}

const documents = new WeakMap<object, DocumentNode>();

/**
 * An operation's selection compiled by graphql-jit, once it ran `jitAfter` times in this process (a chat's
 * conversationEvents runs for each message and side; one-off operations never pay the compile): its frames
 * then cost a generated function instead of graphql-js's walk of the selection (issue 11: 4 % of Kefu's main
 * thread per chat message went to execute). null: graphql-jit refused it (graphql-js runs it).
 */
const jitAfter = 20;
const compiledOperations = new WeakMap<object, CompiledQuery | null>();
const runsBeforeJit = new WeakMap<object, number>();
function compiledOf(info: GraphQLResolveInfo): CompiledQuery | null {
  const known = compiledOperations.get(info.operation);
  if (known !== undefined) return known;
  const runs = (runsBeforeJit.get(info.operation) ?? 0) + 1;
  if (runs < jitAfter) {
    runsBeforeJit.set(info.operation, runs);
    return null;
  }
  const q = compileQuery(info.schema, documentOf(info), info.operation.name?.value);
  const compiled = isCompiledQuery(q) ? q : null;
  compiledOperations.set(info.operation, compiled);
  runsBeforeJit.delete(info.operation);
  return compiled;
}

/** A subscription's coerced variables as JSON values again, once per subscription (not per message). */
const rawVariableValues = new WeakMap<object, Record<string, unknown>>();
function rawVariables(coerced: Record<string, unknown>): Record<string, unknown> {
  let raw = rawVariableValues.get(coerced);
  if (raw === undefined) {
    raw = JSON.parse(JSON.stringify(coerced)) as Record<string, unknown>;
    rawVariableValues.set(coerced, raw);
  }
  return raw;
}
function documentOf(info: GraphQLResolveInfo): DocumentNode {
  let doc = documents.get(info.operation);
  if (!doc) {
    doc = { kind: 'Document' as DocumentNode['kind'], definitions: [info.operation, ...Object.values(info.fragments)] } as DocumentNode;
    documents.set(info.operation, doc);
  }
  return doc;
}

/** Keeps the messages `keep` accepts; return() reaches the source at once (mercurius's withFilter waits for the next message). */
export function filtered<T>(source: AsyncIterator<T>, keep: (m: T) => boolean | Promise<boolean>): AsyncIterator<T> {
  return {
    async next() {
      for (;;) {
        const r = await source.next();
        if (r.done) return r;
        const kept = passes(keep, r.value);
        if (kept === true || (kept !== false && (await kept))) return r;
      }
    },
    async return() {
      return (await source.return?.()) ?? { value: undefined, done: true };
    },
  };
}

/** A filter's answer: at once when it gives one, else a promise. As mercurius's withFilter: a filter that fails drops the message, not the subscription. */
function passes<T>(keep: (m: T) => boolean | Promise<boolean>, message: T): boolean | Promise<boolean> {
  let kept: boolean | Promise<boolean>;
  try {
    kept = keep(message);
  } catch {
    return false;
  }
  if (kept === true || kept === false) return kept;
  return Promise.resolve(kept).then(
    (k) => !!k,
    () => false,
  );
}

function asIterable<T>(it: AsyncIterator<T>): AsyncIterableIterator<T> {
  const out: AsyncIterableIterator<T> = {
    next: () => it.next(),
    return: async () => (await it.return?.()) ?? { value: undefined, done: true },
    [Symbol.asyncIterator]: () => out,
  };
  return out;
}

function failing(error: unknown): AsyncIterableIterator<never> {
  const out: AsyncIterableIterator<never> = {
    next: () => Promise.reject(error),
    return: async () => ({ value: undefined as never, done: true }),
    [Symbol.asyncIterator]: () => out,
  };
  return out;
}

/** A message is shared by every subscriber of its topic: none may change what another sees. */
function deepFreeze(value: unknown): void {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
}


/**
 * The TCP socket under a server-side `ws` WebSocket when a frame written there goes out exactly as ws itself
 * would put it: no compression negotiated, and ws's sender idle (not compressing, not reading a Blob, nothing
 * queued, not in the middle of a fragmented message). Otherwise null, and the frame goes through socket.send.
 * This reads ws's own fields (ws 8); test/api/live-wire-frames.int.spec.ts checks the bytes against ws's.
 */
interface WsInternals {
  _isServer?: boolean;
  _socket?: RawTcp | null;
  _extensions?: Record<string, unknown>;
  _sender?: { _state: number; _queue: unknown[]; _firstFragment: boolean } | null;
}
interface RawTcp {
  write(chunk: Buffer): boolean;
  cork(): void;
  uncork(): void;
  readonly writableCorked: number;
  destroyed: boolean;
  writable: boolean;
}
function rawTransport(socket: LiveSocket): RawTcp | null {
  const ws = socket as unknown as WsInternals;
  const tcp = ws._socket;
  const sender = ws._sender;
  if (ws._isServer !== true || !tcp || !sender || tcp.destroyed || !tcp.writable) return null;
  if (sender._state !== 0 || sender._queue.length !== 0 || !sender._firstFragment) return null;
  if (ws._extensions === undefined || ws._extensions['permessage-deflate'] !== undefined) return null;
  return tcp;
}

/** A text message as one unmasked, unfragmented WebSocket frame (RFC 6455 5.2), as a server sends it. */
export function wireFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const frame = Buffer.allocUnsafeSlow(headerLength(length) + length);
  frame.write(text, writeHeader(frame, length), 'utf8');
  return frame;
}

/** A frame's header for `prefix` and `rest` more bytes, and the prefix. */
function wireHead(prefix: string, rest: number): Buffer {
  const prefixLength = Buffer.byteLength(prefix);
  const length = prefixLength + rest;
  const head = Buffer.allocUnsafe(headerLength(length) + prefixLength);
  head.write(prefix, writeHeader(head, length), 'utf8');
  return head;
}

function headerLength(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10;
}

/** FIN, opcode text, no mask, the payload length; returns where the payload starts. */
function writeHeader(frame: Buffer, length: number): number {
  frame[0] = 0x81;
  if (length < 126) {
    frame[1] = length;
    return 2;
  }
  if (length < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
    return 4;
  }
  frame[1] = 127;
  frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
  frame.writeUInt32BE(length >>> 0, 6);
  return 10;
}
