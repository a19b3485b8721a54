// Connects the customer's and the agent's media and records both (PH-14): customer left, agent right.
// The recording's start and its completion are events on the contact, so a call record knows when the
// file is ready to play.
import { randomUUID } from 'node:crypto';
import type { Bridge, RtpLeg } from '../../../adapters/media/media-port.ts';
import { contactDecider } from '../../../domain/contact/contact.decide.ts';
import type { CommandMetadata } from '../../../domain/decider.ts';
import { streams } from '../../../domain/streams.ts';
import type { CallDeps } from '../call-deps.ts';
import { MediaSilenceWatch } from './call-media.ts';

export class RecordedBridge {
  private readonly deps: CallDeps;
  private readonly bridge: Bridge;
  private readonly stream: string;
  private readonly contactId: string;
  readonly recordingId: string;
  private readonly metadata: () => CommandMetadata;
  private stopped: Promise<void> | null = null;
  /** A side silent while connected is reported (issue 9); null when the alert is off. */
  private silenceWatch: MediaSilenceWatch | null = null;

  private constructor(deps: CallDeps, bridge: Bridge, stream: string, contactId: string, recordingId: string, metadata: () => CommandMetadata) {
    this.deps = deps;
    this.metadata = metadata;
    this.bridge = bridge;
    this.stream = stream;
    this.contactId = contactId;
    this.recordingId = recordingId;
  }

  static async start(
    deps: CallDeps,
    o: { instanceId: string; contactId: string; agentId: string; customer: RtpLeg; agent: RtpLeg; metadata: () => CommandMetadata },
  ): Promise<RecordedBridge> {
    const recordingId = randomUUID();
    const file = await deps.recordingPath(o.instanceId, recordingId);
    const bridge = deps.media.bridge(o.customer, o.agent, { recordTo: file });
    const stream = streams.contact(o.instanceId, o.contactId);
    const started = new RecordedBridge(deps, bridge, stream, o.contactId, recordingId, o.metadata);
    if (deps.silenceAlertSeconds) {
      started.silenceWatch = new MediaSilenceWatch(
        deps,
        { instanceId: o.instanceId, contactId: o.contactId, metadata: o.metadata },
        { customer: o.customer, agent: o.agent, agentId: o.agentId, alertSeconds: deps.silenceAlertSeconds },
      );
    }
    await deps.commands.handle(stream, contactDecider, {
      type: 'StartRecording',
      data: { contactId: o.contactId, recordingId, agentId: o.agentId },
      metadata: o.metadata(),
    });
    return started;
  }

  /** Hold (PH-4): stops relaying; the recording goes on, silent. */
  pause(): void {
    this.bridge.pause?.();
    this.silenceWatch?.pause();
  }

  resume(): void {
    this.bridge.resume?.();
    this.silenceWatch?.resume();
  }

  /** Stops relaying; the recording is closed and reported complete. Safe to call twice. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.silenceWatch?.stop();
      const result = await this.bridge.stop();
      if (!result) return;
      await this.deps.commands.handle(this.stream, contactDecider, {
        type: 'CompleteRecording',
        data: { contactId: this.contactId, recordingId: this.recordingId, durationMs: result.durationMs, bytes: result.bytes },
        metadata: this.metadata(),
      });
    })();
    return this.stopped;
  }
}
