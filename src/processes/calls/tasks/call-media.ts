// What a call's media tells its contact (issue 9): a side from which no audio comes while the call is
// connected (one-way audio: a NATed phone, a carrier sending a law nobody listed), reported once per side
// with a warning in the log; and each leg's figures when its part ends, for the call record.
import type { RtpLeg, RtpLegStats } from '../../../adapters/media/media-port.ts';
import type { CallSide, MediaFigures } from '../../../domain/contact/contact.ts';
import type { CommandMetadata } from '../../../domain/decider.ts';
import { streams } from '../../../domain/streams.ts';
import type { CallDeps } from '../call-deps.ts';
import { tryContactCommand } from '../contact-command.ts';

/** How often the watch looks at the legs' counters (a worker thread reports them about this often too). */
const CHECK_EVERY_MS = 1000;

interface CallRef {
  instanceId: string;
  contactId: string;
  metadata: () => CommandMetadata;
}

export function mediaFigures(stats: RtpLegStats): MediaFigures {
  return {
    packetsReceived: stats.packetsIn,
    packetsSent: stats.packetsOut,
    packetsLost: stats.packetsLost ?? 0,
    jitterMs: Math.round((stats.jitterMs ?? 0) * 100) / 100,
    silentSeconds: Math.floor((stats.silentMs ?? 0) / 1000),
    dropped: {
      malformed: stats.packetsMalformed ?? 0,
      wrongSource: stats.packetsIgnored ?? 0,
      unknownPayloadType: stats.packetsUnknownPayloadType ?? 0,
      beforeNegotiation: stats.packetsBeforeNegotiation ?? 0,
    },
  };
}

/** Records a leg's figures on the contact once its part is over (the leg closed, so the counters are final). */
export async function recordLegMedia(deps: CallDeps, call: CallRef, side: CallSide, agentId: string | null, leg: RtpLeg): Promise<void> {
  try {
    await tryContactCommand(deps, streams.contact(call.instanceId, call.contactId), {
      type: 'RecordMediaFigures',
      data: { contactId: call.contactId, side, agentId, figures: mediaFigures(leg.stats()) },
      metadata: call.metadata(),
    });
  } catch (err) {
    // The figures are a report: a store that cannot take them must not keep the call from being freed.
    deps.logger.warn({ err, contactId: call.contactId, side }, 'could not record the media figures of a call leg');
  }
}

/**
 * Watches a bridged call's two legs; a side that sends no audio for `alertSeconds` while relayed is reported
 * once. Hold pauses it (music plays, nobody is expected to speak), resume starts the count again.
 */
export class MediaSilenceWatch {
  private readonly deps: CallDeps;
  private readonly call: CallRef;
  private readonly sides: { side: CallSide; agentId: string | null; leg: RtpLeg; reported: boolean }[];
  private readonly alertMs: number;
  private timer: NodeJS.Timeout | null = null;
  /** Date.now() since when audio is expected (the bridge, or the end of a hold). */
  private since = Date.now();

  constructor(deps: CallDeps, call: CallRef, o: { customer: RtpLeg; agent: RtpLeg; agentId: string; alertSeconds: number }) {
    this.deps = deps;
    this.call = call;
    this.alertMs = o.alertSeconds * 1000;
    this.sides = [
      { side: 'CUSTOMER', agentId: null, leg: o.customer, reported: false },
      { side: 'AGENT', agentId: o.agentId, leg: o.agent, reported: false },
    ];
    this.resume();
  }

  pause(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  resume(): void {
    if (this.timer || this.alertMs <= 0) return;
    this.since = Date.now();
    this.timer = setInterval(() => this.check(), CHECK_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    this.pause();
  }

  private check(): void {
    const now = Date.now();
    for (const s of this.sides) {
      if (s.reported) continue;
      const stats = s.leg.stats();
      const silentMs = now - Math.max(this.since, stats.lastAudioAt ?? 0);
      if (silentMs < this.alertMs) continue;
      s.reported = true;
      const silentSeconds = Math.floor(silentMs / 1000);
      this.deps.logger.warn(
        { contactId: this.call.contactId, side: s.side, agentId: s.agentId, silentSeconds, leg: s.leg.id, figures: mediaFigures(stats) },
        `call ${this.call.contactId}: no audio from the ${s.side === 'CUSTOMER' ? 'customer' : 'agent'} for ${silentSeconds} s while connected`,
      );
      void tryContactCommand(this.deps, streams.contact(this.call.instanceId, this.call.contactId), {
        type: 'ReportMediaSilence',
        data: { contactId: this.call.contactId, side: s.side, agentId: s.agentId, silentSeconds },
        metadata: this.call.metadata(),
      }).catch((err: unknown) => this.deps.logger.warn({ err, contactId: this.call.contactId }, 'could not report a silent call'));
    }
  }
}
