// Kefu's own graphql-ws server for subscriptions, on the same endpoint as mercurius (GET /graphql upgrades to
// a WebSocket; mercurius keeps queries and mutations over HTTP). Why not mercurius's: each of its connections
// keeps the upgrade request with fastify's request and reply, a Readable per subscription, its own parse of
// every query and no validation; an idle live view cost ~31 KB, and the mercurius-specific parts were most of
// it. Here a connection is the ws socket, its principal and a map of its subscriptions; a query text is
// parsed and validated once per process, with the same rules and limits as over HTTP. Why not a patch of
// mercurius: what costs the memory is its API (the subscription context carries `request`, `reply`, `pubsub`
// for its hooks and loaders), so a lean connection is a breaking change there, not an upstreamable fix; and a
// server of our own lets live views write shared frames without going through mercurius's per-subscriber loop.
//
// Protocols: graphql-transport-ws (the graphql-ws library) and the legacy graphql-ws
// (subscriptions-transport-ws), as mercurius served them: connection_init (authenticated by the caller's
// `authenticate`), subscribe/start, complete/stop, ping/pong/ka, connection_terminate. A frame Kefu cannot
// start is answered with an error frame whose errors all carry extensions.code; the connection stays open.
// Each subscription runs graphql's subscribe() with a context of its own (deps, principal, id, socket, live
// fan-out): live views (liveSubscription) take over the socket and write shared frames; other fields (the
// softphone's calls) go out as their own executions.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { GraphQLError, getOperationAST, subscribe, validate, type DocumentNode, type ExecutionResult, type GraphQLSchema, type ValidationRule } from 'graphql';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';

/** graphql-ws's two sub-protocols and the message types that differ between them. */
const protocols = {
  'graphql-transport-ws': { start: 'subscribe', data: 'next', stop: 'complete', ping: 'ping', pong: 'pong' },
  'graphql-ws': { start: 'start', data: 'data', stop: 'stop', ping: 'ka', pong: null },
} as const;
type ProtocolName = keyof typeof protocols;
type Protocol = (typeof protocols)[ProtocolName];

interface FormattedError {
  message: string;
  extensions?: Record<string, unknown>;
}

export interface SubscriptionServerOptions<P> {
  schema: GraphQLSchema;
  /** The path that upgrades (its query string ignored). */
  path: string;
  /** Parses a query text (throws a GraphQLError with a code: syntax, token limit, nesting). */
  parse: (source: string) => DocumentNode;
  /** Run with the spec's rules on each new document. */
  validationRules: readonly ValidationRule[];
  /** connection_init's payload (and the page's origin) to the principal, or null to refuse the connection. */
  authenticate: (payload: Record<string, unknown>, connection: { origin: string | null; clientIp: string }) => Promise<P | null>;
  /** The context of one subscription. */
  context: (connection: { principal: P; clientIp: string; origin: string | null; socket: WebSocket; id: string }) => object;
  /** An execution result with errors, as mercurius's errorFormatter (the response of a `next` frame). */
  formatResult: (result: ExecutionResult, context: unknown) => { response: unknown };
  /** Errors of an `error` frame, each with extensions.code. */
  formatErrors: (errors: readonly GraphQLError[]) => FormattedError[];
  log: { error(obj: object, msg: string): void };
  /** Largest frame accepted (as mercurius's 1 MiB). */
  maxPayload?: number;
}

/**
 * Watches each subscribe frame (traces, metrics): `begin` when the frame arrives, `within` runs the setup
 * (graphql's subscribe: the resolver's checks and first reads) so that what it does is the operation's child,
 * `operation` once the document is valid (with the subscription's context, or null when it is refused without
 * running: a query or mutation sent over the socket), `end` when the setup is over: started (null) or refused
 * or failed with these errors. A frame refused before its document is valid gets `begin` and `end` only.
 */
export interface OperationObserver {
  begin(frame: { extensions: Record<string, unknown> | null }): ObservedOperation;
}
export interface ObservedOperation {
  within<T>(fn: () => T): T;
  operation(document: DocumentNode, operationName: string | undefined, context: object | null): void;
  end(errors: readonly GraphQLError[] | null): void;
}

/** Valid documents remembered by their text: a dashboard's few queries are parsed and validated once. */
const cachedDocuments = 256;
const cachedTextMax = 8 * 1024;

export class SubscriptionServer<P> {
  private readonly wss: WebSocketServer;
  private readonly options: SubscriptionServerOptions<P>;
  private readonly documents = new Map<string, DocumentNode>();
  private server: Server | null = null;
  /** Tracing and metrics of subscribe frames (none: nothing is observed). */
  readonly observers: OperationObserver[] = [];
  /** Open connections, for the metrics' counts (a connection removes itself when its socket closes). */
  readonly open = new Set<{ readonly principalOf: unknown; readonly runningSubscriptions: number }>();

  constructor(options: SubscriptionServerOptions<P>) {
    this.options = options;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxPayload ?? 1024 * 1024,
      perMessageDeflate: false,
      handleProtocols: (offered) => (offered.has('graphql-transport-ws') ? 'graphql-transport-ws' : offered.has('graphql-ws') ? 'graphql-ws' : false),
    });
  }

  /** Takes the upgrades of `path` on this server; other upgrades are refused. */
  attach(server: Server): void {
    this.server = server;
    server.on('upgrade', this.onUpgrade);
  }

  /** Observes every subscribe frame from now on (tracing, metrics). */
  addObserver(observer: OperationObserver): void {
    this.observers.push(observer);
  }

  /** Closes every connection (1001, going away) and stops taking upgrades. */
  close(): void {
    this.server?.off('upgrade', this.onUpgrade);
    for (const socket of this.wss.clients) socket.close(1001, 'Server shutting down');
    this.wss.close();
  }

  /** Open connections, for tests and the bench. */
  get connections(): number {
    return this.wss.clients.size;
  }

  /** Connections by what `kind` says of their principal (null before connection_init), and their subscriptions. */
  liveCounts(kind: (principal: P | null) => string): { connections: Record<string, number>; subscriptions: number } {
    const connections: Record<string, number> = {};
    let subscriptions = 0;
    for (const c of this.open) {
      const k = kind(c.principalOf as P | null);
      connections[k] = (connections[k] ?? 0) + 1;
      subscriptions += c.runningSubscriptions;
    }
    return { connections, subscriptions };
  }

  private readonly onUpgrade = (request: IncomingMessage, stream: Duplex, head: Buffer): void => {
    const url = request.url ?? '';
    const q = url.indexOf('?');
    if ((q < 0 ? url : url.slice(0, q)) !== this.options.path) {
      // Node removed its own error listener before 'upgrade': a peer resetting now must not end the process.
      stream.on('error', () => stream.destroy());
      stream.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const clientIp = request.socket.remoteAddress ?? '';
    const origin = typeof request.headers.origin === 'string' ? request.headers.origin : null;
    // The request is not kept: the connection needs only the client's address and the page's origin.
    this.wss.handleUpgrade(request, stream, head, (socket) => new Connection(this, socket, clientIp, origin));
  };

  /** A query's document, valid against the schema, or the errors that refuse it. */
  document(source: string): DocumentNode | readonly GraphQLError[] {
    const known = this.documents.get(source);
    if (known) return known;
    let document: DocumentNode;
    try {
      document = this.options.parse(source);
    } catch (err) {
      return [err instanceof GraphQLError ? err : new GraphQLError(String((err as Error)?.message ?? err))];
    }
    const errors = validate(this.options.schema, document, this.options.validationRules);
    if (errors.length > 0) return errors;
    if (source.length <= cachedTextMax) {
      if (this.documents.size >= cachedDocuments) this.documents.delete(this.documents.keys().next().value!);
      this.documents.set(source, document);
    }
    return document;
  }

  get settings(): SubscriptionServerOptions<P> {
    return this.options;
  }
}

const OPEN = 1;

/** One WebSocket: its principal once connection_init was accepted, and its running subscriptions by id. */
class Connection<P> {
  private readonly server: SubscriptionServer<P>;
  private readonly socket: WebSocket;
  private readonly clientIp: string;
  private readonly origin: string | null;
  private readonly protocol: Protocol | null;
  private principal: P | null = null;
  private initializing = false;
  private readonly subscriptions = new Map<string, AsyncIterator<unknown> | null>();

  constructor(server: SubscriptionServer<P>, socket: WebSocket, clientIp: string, origin: string | null) {
    this.server = server;
    this.socket = socket;
    this.clientIp = clientIp;
    this.origin = origin;
    this.protocol = protocols[socket.protocol as ProtocolName] ?? null;
    if (!this.protocol) {
      socket.close(1002, 'Unsupported sub-protocol: use graphql-transport-ws');
      return;
    }
    socket.on('message', this.onMessage);
    socket.on('close', this.onClose);
    socket.on('error', this.onClose);
    server.open.add(this);
  }

  get principalOf(): P | null {
    return this.principal;
  }

  get runningSubscriptions(): number {
    return this.subscriptions.size;
  }

  private readonly onMessage = (raw: RawData, isBinary: boolean): void => {
    let message: { type?: unknown; id?: unknown; payload?: unknown };
    try {
      message = JSON.parse(isBinary ? Buffer.from(raw as Buffer).toString('utf8') : String(raw)) as typeof message;
      if (message === null || typeof message !== 'object' || Array.isArray(message)) throw new Error('not an object');
    } catch {
      this.sendErrors(null, [new GraphQLError('Message must be a JSON object')]);
      return;
    }
    const p = this.protocol!;
    const id = typeof message.id === 'string' || typeof message.id === 'number' ? String(message.id) : null;
    switch (message.type) {
      case 'connection_init':
        void this.init(message.payload);
        return;
      case 'connection_terminate':
        this.socket.close(1000, 'Terminated');
        return;
      case p.start:
        if (this.principal === null) {
          if (p.pong === null) this.send('{"type":"connection_error","payload":{"message":"Connection has not been established yet."}}');
          this.socket.close(4401, 'Unauthorized');
          return;
        }
        this.start(id, message.payload);
        return;
      case p.stop:
        if (id !== null) this.stop(id);
        return;
      case p.ping:
        if (p.pong) this.send(message.payload === undefined ? '{"type":"pong"}' : JSON.stringify({ type: 'pong', payload: message.payload }));
        return;
      case 'pong':
        return;
      default:
        this.sendErrors(id, [new GraphQLError('Invalid message type')]);
    }
  };

  private async init(payload: unknown): Promise<void> {
    if (this.initializing || this.principal !== null) {
      // graphql-transport-ws: one connection_init per connection.
      this.socket.close(4429, 'Too many initialisation requests');
      return;
    }
    this.initializing = true;
    let principal: P | null = null;
    try {
      const fields = payload !== null && typeof payload === 'object' ? (payload as Record<string, unknown>) : {};
      principal = await this.server.settings.authenticate(fields, { origin: this.origin, clientIp: this.clientIp });
    } catch (err) {
      this.server.settings.log.error({ err }, 'graphql-ws connection_init failed');
    }
    this.initializing = false;
    if (this.socket.readyState !== OPEN) return;
    if (principal === null) {
      // graphql-transport-ws closes with 4403; the legacy protocol says connection_error first.
      if (this.protocol!.pong === null) this.send('{"type":"connection_error","payload":{"message":"Forbidden"}}');
      this.socket.close(4403, 'Forbidden');
      return;
    }
    this.principal = principal;
    this.send('{"type":"connection_ack"}');
  }

  private start(id: string | null, payload: unknown): void {
    if (id === null) {
      this.sendErrors(null, [new GraphQLError('A subscription needs an id')]);
      return;
    }
    if (this.subscriptions.has(id)) {
      this.socket.close(4409, `Subscriber for ${id.slice(0, 50)} already exists`);
      return;
    }
    const { query, variables, operationName, extensions } = (payload ?? {}) as { query?: unknown; variables?: unknown; operationName?: unknown; extensions?: unknown };
    const observed = this.server.observers.length > 0 ? observe(this.server.observers, extensions) : null;
    const refuse = (errors: readonly GraphQLError[]): void => {
      observed?.end(errors);
      this.sendErrors(id, errors);
    };
    if (typeof query !== 'string') return refuse([new GraphQLError('The query must be GraphQL text')]);
    if (variables != null && (typeof variables !== 'object' || Array.isArray(variables))) return refuse([new GraphQLError('Variables must be an object')]);
    if (operationName != null && typeof operationName !== 'string') return refuse([new GraphQLError('The operation name must be a string')]);
    const document = this.server.document(query);
    if (Array.isArray(document)) return refuse(document);
    const doc = document as DocumentNode;
    const operation = getOperationAST(doc, operationName ?? undefined);
    if (!operation) return refuse([new GraphQLError(operationName ? `Unknown operation named "${operationName}"` : 'Must provide an operation (name it when there are several)')]);
    if (operation.operation !== 'subscription') {
      observed?.operation(doc, (operationName ?? undefined) as string | undefined, null);
      return refuse([new GraphQLError(`Only subscriptions go over WebSocket; send a ${operation.operation} over HTTP`)]);
    }
    this.subscriptions.set(id, null);
    void this.run(id, doc, (variables ?? undefined) as Record<string, unknown> | undefined, (operationName ?? undefined) as string | undefined, observed);
  }

  private async run(id: string, document: DocumentNode, variables: Record<string, unknown> | undefined, operationName: string | undefined, observed: ObservedOperation | null): Promise<void> {
    const settings = this.server.settings;
    const contextValue = settings.context({ principal: this.principal!, clientIp: this.clientIp, origin: this.origin, socket: this.socket, id });
    observed?.operation(document, operationName, contextValue);
    let iterator: AsyncIterator<unknown>;
    try {
      const start = () => subscribe({ schema: settings.schema, document, rootValue: {}, contextValue, variableValues: variables, operationName });
      const result = await (observed ? observed.within(start) : start());
      if (!(Symbol.asyncIterator in result)) {
        this.subscriptions.delete(id);
        const errors = (result as ExecutionResult).errors ?? [new GraphQLError('The subscription did not start')];
        observed?.end(errors);
        this.sendErrors(id, errors);
        return;
      }
      iterator = (result as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    } catch (err) {
      this.subscriptions.delete(id);
      const errors = [asGraphQLError(err)];
      observed?.end(errors);
      this.sendErrors(id, errors);
      return;
    }
    // A refused subscription (liveSubscription) rejects its first result at once: observed, that is part of
    // its setup, so the observation waits for the first result until the next turn of the event loop.
    let first: Promise<IteratorResult<unknown>> | null = null;
    if (observed) {
      first = iterator.next();
      observed.end(await refusedAtOnce(first));
    }
    // Completed by the client, or the socket closed, while it started.
    if (!this.subscriptions.has(id) || this.socket.readyState !== OPEN) {
      this.subscriptions.delete(id);
      void iterator.return?.();
      return;
    }
    this.subscriptions.set(id, iterator);
    const prefix = `{"type":"${this.protocol!.data}","id":${JSON.stringify(id)},"payload":`;
    try {
      for (;;) {
        const r = await (first ?? iterator.next());
        first = null;
        if (r.done || this.subscriptions.get(id) !== iterator) break;
        const value = r.value as ExecutionResult;
        const response = value.errors && value.errors.length > 0 ? settings.formatResult(value, contextValue).response : value;
        this.send(prefix + JSON.stringify(response) + '}');
      }
    } catch (err) {
      if (this.subscriptions.get(id) === iterator) {
        this.subscriptions.delete(id);
        this.sendErrors(id, [asGraphQLError(err)]);
      }
      return;
    }
    // Ended by the server (not by the client's complete): say so.
    if (this.subscriptions.get(id) === iterator) {
      this.subscriptions.delete(id);
      this.send(`{"type":"complete","id":${JSON.stringify(id)}}`);
    }
  }

  private stop(id: string): void {
    if (!this.subscriptions.has(id)) return;
    const iterator = this.subscriptions.get(id);
    this.subscriptions.delete(id);
    void iterator?.return?.();
  }

  private readonly onClose = (): void => {
    this.server.open.delete(this);
    for (const iterator of this.subscriptions.values()) void iterator?.return?.();
    this.subscriptions.clear();
  };

  private sendErrors(id: string | null, errors: readonly GraphQLError[]): void {
    const payload = this.server.settings.formatErrors(errors);
    this.send(JSON.stringify(id === null ? { type: 'error', payload } : { type: 'error', id, payload }));
  }

  private send(frame: string): void {
    if (this.socket.readyState === OPEN) this.socket.send(frame, noop);
  }
}

/** One observation made of every observer's (their `within`s nested). */
function observe(observers: readonly OperationObserver[], extensions: unknown): ObservedOperation {
  const frame = { extensions: extensions !== null && typeof extensions === 'object' && !Array.isArray(extensions) ? (extensions as Record<string, unknown>) : null };
  const each = observers.map((o) => o.begin(frame));
  if (each.length === 1) return each[0]!;
  return {
    within: <T>(fn: () => T): T => each.reduceRight<() => T>((inner, o) => () => o.within(inner), fn)(),
    operation: (document, operationName, context) => {
      for (const o of each) o.operation(document, operationName, context);
    },
    end: (errors) => {
      for (const o of each) o.end(errors);
    },
  };
}

/** The errors of a first result that failed before the next turn of the event loop; null otherwise. */
function refusedAtOnce(first: Promise<unknown>): Promise<readonly GraphQLError[] | null> {
  return new Promise((resolve) => {
    const timer = setImmediate(() => resolve(null));
    first.then(
      () => {
        clearImmediate(timer);
        resolve(null);
      },
      (err: unknown) => {
        clearImmediate(timer);
        resolve([asGraphQLError(err)]);
      },
    );
  });
}

function asGraphQLError(err: unknown): GraphQLError {
  if (err instanceof GraphQLError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  return new GraphQLError(e.message, { originalError: e });
}

function noop(): void {}
