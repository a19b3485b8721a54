/* global fetch, WebSocket */
// The demo pages' client of Kefu's public API (/demo/agent, /demo/supervisor): GraphQL over HTTP, and a
// minimal graphql-ws (graphql-transport-ws) client. Served as /demo/shared/kefu-api.js; no build step.

/** POST /graphql with the bearer token; the data, or an Error naming each error's code. */
export async function graphql(query, variables = {}, token = null) {
  const res = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors?.length) throw new Error(body.errors.map((e) => `${e.extensions?.code ?? 'ERROR'}: ${e.message}`).join('; '));
  return body.data;
}

/** connection_init (with the token) / ack, subscribe / next / error / complete, ping / pong. */
export class GraphqlWs {
  constructor(url, token, onError = () => undefined) {
    this.url = url;
    this.token = token;
    this.onError = onError;
    this.nextId = 1;
    this.handlers = new Map();
    this.onclose = null;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url, 'graphql-transport-ws');
      this.socket = socket;
      socket.onopen = () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${this.token}` } }));
      socket.onerror = () => reject(new Error('WebSocket failed'));
      socket.onclose = (e) => {
        reject(new Error(`WebSocket closed: ${e.code} ${e.reason}`));
        this.onclose?.(e);
      };
      socket.onmessage = (e) => {
        const msg = JSON.parse(e.data);
        switch (msg.type) {
          case 'connection_ack':
            resolve();
            break;
          case 'ping':
            socket.send(JSON.stringify({ type: 'pong' }));
            break;
          case 'next':
            this.handlers.get(msg.id)?.next(msg.payload);
            break;
          case 'error':
            this.handlers.get(msg.id)?.error(msg.payload);
            break;
          case 'complete':
            this.handlers.delete(msg.id);
            break;
        }
      };
    });
  }

  /** Starts a subscription; returns its stop function. */
  subscribe(query, next, error = this.onError, variables = {}) {
    const id = String(this.nextId++);
    this.handlers.set(id, { next, error });
    this.socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables } }));
    return () => {
      this.handlers.delete(id);
      if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ id, type: 'complete' }));
    };
  }

  close() {
    this.onclose = null;
    this.socket?.close(1000, 'bye');
  }
}
