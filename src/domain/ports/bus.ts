// The live bus port: fan-out of read-model changes to subscribers, in one process or across many (NATS).
// Messages are JSON values; topics are dot-separated words (`kefu.<instanceId>.agentStatus`).

export interface Bus {
  readonly name: string;
  publish(topic: string, message: unknown): Promise<void>;
  /** Returns the function that ends the subscription. */
  subscribe(topic: string, onMessage: (message: unknown) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
