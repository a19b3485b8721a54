// The phone process on one SIP node: a session per inbound call, the contact events that steer them, and,
// at start-up, the end of calls an earlier run of this node held when it died (systemError), so their agents
// are freed and their records are closed.
import { CallGoneError, type InboundCall } from '../../adapters/sip/inbound-call.ts';
import { contactDecider } from '../../domain/contact/contact.decide.ts';
import { DomainError } from '../../domain/errors.ts';
import { streams } from '../../domain/streams.ts';
import type { ReadModel } from '../../projections/projection.ts';
import type { CallDeps } from './call-deps.ts';
import { InboundCallSession } from './inbound-call-session.ts';

export class PhoneCalls {
  private readonly deps: CallDeps;
  private readonly sessions = new Set<InboundCallSession>();
  private stopping = false;

  constructor(deps: CallDeps) {
    this.deps = deps;
  }

  async start(): Promise<void> {
    await this.deps.watch.start((err) => this.deps.logger.error({ err }, 'contact watch failed'));
  }

  /** Calls in progress on this node. */
  get activeCalls(): number {
    return this.sessions.size;
  }

  handleInbound(call: InboundCall): void {
    if (this.stopping) {
      call.reject(503, 'Service Unavailable');
      return;
    }
    const session = new InboundCallSession(this.deps, call);
    this.sessions.add(session);
    session
      .run()
      .catch(async (err: unknown) => {
        if (err instanceof CallGoneError || call.endedBy === 'remote') {
          // The caller hung up (or its connection closed) while the call was being set up, and what came
          // next failed on the ended call or its closed media leg: an ordinary race, not a fault. The
          // session's 'ended' listener ends the contact as the customer's hang-up.
          this.deps.logger.info({ reason: err instanceof Error ? err.message : String(err), contactId: session.contactId }, 'caller gone while the call was set up');
          return;
        }
        this.deps.logger.error({ err, contactId: session.contactId }, 'inbound call failed');
        await session.systemHangup('systemError').catch(() => undefined);
        try {
          call.reject(500, 'Server Internal Error');
        } catch {
          // already answered or gone
        }
      })
      .then(() => session.done)
      .finally(() => this.sessions.delete(session));
  }

  /**
   * Ends the calls that this node held before it stopped without hanging them up (a crash, kill -9): their
   * contacts end with systemError, which frees their agents. Calls started after `startedAt` are this run's.
   */
  async endOrphanedCalls(db: ReadModel, startedAt: Date): Promise<number> {
    const rows = await db
      .selectFrom('call_records')
      .select(['instance_id', 'contact_id'])
      .where('node', '=', this.deps.node)
      .where('ended_at', 'is', null)
      .where('started_at', '<', startedAt)
      .execute();
    let ended = 0;
    for (const row of rows) {
      try {
        const { events } = await this.deps.commands.handle(streams.contact(row.instance_id, row.contact_id), contactDecider, {
          type: 'EndContact',
          data: { contactId: row.contact_id, reason: 'systemError', endedBy: 'SYSTEM', agentId: null },
          metadata: { now: this.deps.clock().toISOString(), instanceId: row.instance_id, actor: 'system:sip', correlationId: row.contact_id },
        });
        if (events.length > 0) ended++;
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
      }
    }
    if (ended > 0) this.deps.logger.warn({ ended, node: this.deps.node }, 'ended calls left over by an earlier run of this SIP node');
    return ended;
  }

  /** Hangs up every call (systemError) and stops following contacts. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.sessions].map((s) => s.systemHangup('systemError').catch(() => undefined)));
    await this.deps.watch.stop();
  }
}
