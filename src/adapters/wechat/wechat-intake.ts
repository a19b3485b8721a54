// The durable intake of WeChat pushes (issue 13). WeChat wants `success` within 5 s and does not retry a push it
// got `success` for, so what is answered must be kept: a checked push is first written to wechat_inbound with its
// key (MsgId, or customer + time + event) as the primary key, one INSERT … ON CONFLICT DO NOTHING for all pushes
// that arrive together (group commit: while one batch is being written the next one gathers). The insert is
// the dedupe, exact across Kefu processes: a retry of a kept push (here or at another process) inserts nothing
// and is answered `success` at once. The answer then waits for the push's effect only as long as the setting
// says (KEFU_WECHAT_ANSWER_WAIT_MS, default 0: answered as soon as the push is kept); the effect (chat, message,
// media download) is made from the kept push, by the process that took it, and marked done in batches. Effects
// start after the answers of their turn of the event loop and a bounded number at once, and the INSERT goes
// through connections of its own (keepDb), so the answer waits neither behind them nor for a pooled connection.
//
// A kept push whose effect was not made (Kefu died after answering, or the effect failed) is taken again by any
// process's sweep once its lease (KEFU_WECHAT_INTAKE_LEASE_MS after it was taken, or after the last try) is
// over, claimed with FOR UPDATE SKIP LOCKED; failures are tried again with backoff (up to 10 minutes apart),
// never dropped. Making an effect twice is harmless: a message's clientMessageId is the push key, which the
// contact decider drops when it sees it again, and a chat a push starts has an id derived from that key.
import { sql } from 'kysely';
import type { ReadModel } from '../../projections/projection.ts';
import type { WechatAccountRow } from '../../projections/wechat-accounts/wechat-accounts.projection.ts';
import { pushKey, type WechatPush } from './wechat-messages.ts';

interface Logger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface WechatIntakeDeps {
  db: ReadModel;
  /**
   * Where pushes are kept (the INSERT WeChat's answer waits for): on PostgreSQL a pool of its own, so the answer
   * never queues for a connection behind the effects' and the projections' statements. Absent: `db`.
   */
  keepDb?: ReadModel;
  /** Effects made at once at most (default 16); the others wait their turn, in the order their pushes came. */
  maxEffects?: number;
  clock: () => Date;
  logger: Logger;
  /** The account a kept push is for, as now (null: deleted or disabled since; the push is dropped). */
  account: (instanceId: string, accountId: string) => Promise<WechatAccountRow | null>;
  /** Makes a push's effect; resolves with the contact it went to. */
  handle: (account: WechatAccountRow, push: WechatPush) => Promise<string | null>;
  /** An effect that can never be made (WeChat refused the push's MediaId): the kept push is forgotten, so WeChat's retry is refused again. */
  refused?: (err: unknown) => boolean;
  /** How long a taken push is left to the process that took it before a sweep takes it (ms). */
  leaseMs?: number;
  /** How often a process sweeps for kept pushes left undone (ms). */
  sweepEveryMs?: number;
}

export interface Received {
  /** False: a retry of a push kept before (here or elsewhere); nothing more is done. */
  taken: boolean;
  /** Resolves when the push's effect is made (null) or failed (the error; it is tried again later). */
  effect: Promise<unknown>;
}

/** A push to keep, as the INSERT reads it (jsonb_to_recordset): instance, account, key, received at, the push, lease end. */
interface KeptRow {
  i: string;
  a: string;
  k: string;
  r: string;
  p: WechatPush;
  n: string;
}

interface Pending {
  row: KeptRow;
  resolve: (taken: boolean) => void;
  reject: (err: unknown) => void;
}

interface Done {
  i: string;
  a: string;
  k: string;
  c: string | null;
}

const maxBatch = 200;
const maxBackoffMs = 10 * 60_000;

export class WechatIntake {
  private readonly deps: WechatIntakeDeps;
  private readonly leaseMs: number;
  private readonly sweepEveryMs: number;
  private batch: Pending[] = [];
  private writing = 0;
  private scheduled = false;
  private doneBatch: Done[] = [];
  private doneScheduled = false;
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;
  private stopped = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Keys of the pushes this process is making now: a sweep that claims one (its lease over: a backlog) only renews the lease. */
  private readonly makingNow = new Set<string>();
  /** Effects waiting for a turn (FIFO: a customer's pushes start in the order they came), and how many run. */
  private readonly waiting: (() => void)[] = [];
  private running = 0;
  private startScheduled = false;

  constructor(deps: WechatIntakeDeps) {
    this.deps = deps;
    this.leaseMs = deps.leaseMs ?? 30_000;
    this.sweepEveryMs = deps.sweepEveryMs ?? 5_000;
  }

  /** Sweeps now and then every few seconds. */
  start(): void {
    if (this.sweepTimer) return;
    const tick = () => {
      if (this.stopped) return;
      this.sweep()
        .catch((err: unknown) => this.deps.logger.error({ err }, 'the WeChat intake sweep failed'))
        .finally(() => {
          if (!this.stopped) this.sweepTimer = setTimeout(tick, this.sweepEveryMs).unref();
        });
    };
    this.sweepTimer = setTimeout(tick, 0).unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    await this.sweeping?.catch(() => undefined);
    await Promise.allSettled([...this.inFlight]);
    await this.flushDone();
  }

  /** Keeps a checked push (durably, once) and starts making its effect. */
  async receive(account: WechatAccountRow, push: WechatPush): Promise<Received> {
    const key = pushKey(push);
    const now = this.deps.clock();
    const taken = await new Promise<boolean>((resolve, reject) => {
      this.batch.push({
        row: { i: account.instance_id, a: account.id, k: key, r: now.toISOString(), p: push, n: new Date(now.getTime() + this.leaseMs).toISOString() },
        resolve,
        reject,
      });
      this.schedule();
    });
    if (!taken) return { taken, effect: Promise.resolve(null) };
    return { taken, effect: this.run(account, push, key, 0) };
  }

  /** Forgets a kept push whose effect can never be made (WeChat refused its MediaId): WeChat's retry is refused again. */
  async forget(account: WechatAccountRow, push: WechatPush): Promise<void> {
    await this.deps.db.deleteFrom('wechat_inbound').where('instance_id', '=', account.instance_id).where('account_id', '=', account.id).where('push_key', '=', pushKey(push)).execute();
  }

  /** One sweep: kept pushes whose lease is over, claimed (another process skips them) and made. */
  async sweep(): Promise<number> {
    while (this.sweeping) await this.sweeping.catch(() => undefined);
    let n = 0;
    const run = (async () => {
      const now = this.deps.clock();
      const { rows } = await sql<{ instance_id: string; account_id: string; push_key: string; push: WechatPush | string; attempts: number }>`
        UPDATE wechat_inbound w SET next_attempt_at = ${new Date(now.getTime() + this.leaseMs)}, attempts = w.attempts + 1
        FROM (SELECT instance_id, account_id, push_key FROM wechat_inbound WHERE pending AND next_attempt_at <= ${now}
              ORDER BY received_at LIMIT 100 FOR UPDATE SKIP LOCKED) due
        WHERE w.instance_id = due.instance_id AND w.account_id = due.account_id AND w.push_key = due.push_key
        RETURNING w.instance_id, w.account_id, w.push_key, w.push, w.attempts`.execute(this.deps.db);
      n = rows.length;
      const byAccount = new Map<string, WechatAccountRow | null>();
      for (const r of rows) {
        const id = `${r.instance_id}/${r.account_id}`;
        if (!byAccount.has(id)) byAccount.set(id, await this.deps.account(r.instance_id, r.account_id));
        const account = byAccount.get(id)!;
        if (!account) {
          this.deps.logger.warn({ instanceId: r.instance_id, accountId: r.account_id }, 'a kept WeChat push is dropped: its account is deleted or disabled');
          this.markDone({ i: r.instance_id, a: r.account_id, k: r.push_key, c: null });
          continue;
        }
        if (this.makingNow.has(`${r.instance_id}\u0000${r.account_id}\u0000${r.push_key}`)) continue;
        const push = (typeof r.push === 'string' ? JSON.parse(r.push) : r.push) as WechatPush;
        // In the order WeChat sent them (per customer, WechatInbound runs them one after the other).
        void this.run(account, push, r.push_key, r.attempts);
      }
    })();
    this.sweeping = run;
    try {
      await run;
    } finally {
      this.sweeping = null;
    }
    return n;
  }

  /**
   * Makes a push's effect in its turn: after the answers of this turn of the loop are written (setImmediate), at
   * most maxEffects at once. The effects (a chat's append, the projections it wakes) would otherwise take the
   * event loop and the connections from the answers of the pushes that keep coming.
   */
  private run(account: WechatAccountRow, push: WechatPush, key: string, attempts: number): Promise<unknown> {
    const making = `${account.instance_id}\u0000${account.id}\u0000${key}`;
    this.makingNow.add(making);
    const turn = new Promise<void>((resolve) => this.waiting.push(resolve));
    this.startWaiting();
    const effect = turn.then(() => this.make(account, push, key, attempts));
    this.inFlight.add(effect);
    void effect.then(() => {
      this.inFlight.delete(effect);
      this.makingNow.delete(making);
      this.running--;
      this.startWaiting();
    });
    return effect;
  }

  private startWaiting(): void {
    if (this.startScheduled || this.waiting.length === 0 || this.running >= (this.deps.maxEffects ?? 16)) return;
    this.startScheduled = true;
    setImmediate(() => {
      this.startScheduled = false;
      while (this.waiting.length > 0 && this.running < (this.deps.maxEffects ?? 16)) {
        this.running++;
        this.waiting.shift()!();
      }
    });
  }

  private make(account: WechatAccountRow, push: WechatPush, key: string, attempts: number): Promise<unknown> {
    // handle's own throw too is a failed effect (tried again later), never an unhandled rejection.
    return Promise.resolve()
      .then(() => this.deps.handle(account, push))
      .then(
        (contactId) => {
          this.markDone({ i: account.instance_id, a: account.id, k: key, c: contactId });
          return null;
        },
        async (err: unknown) => {
          if (this.deps.refused?.(err)) {
            await this.forget(account, push).catch(() => undefined);
            // Taken now, the callback refuses it (and logs that once); taken by a sweep, nobody else says it.
            if (attempts > 0) this.deps.logger.warn({ instanceId: account.instance_id, accountId: account.id, msgType: push.msgType }, 'a kept WeChat push is dropped: WeChat refused it');
            return err;
          }
          const backoff = Math.min(maxBackoffMs, 5_000 * 2 ** Math.min(attempts, 10));
          this.deps.logger.error({ err, instanceId: account.instance_id, accountId: account.id, msgType: push.msgType, attempts: attempts + 1, retryInMs: backoff }, 'a kept WeChat push could not be handled; it is tried again later');
          await this.deps.db
            .updateTable('wechat_inbound')
            .set({ next_attempt_at: new Date(this.deps.clock().getTime() + backoff) })
            .where('instance_id', '=', account.instance_id)
            .where('account_id', '=', account.id)
            .where('push_key', '=', key)
            .where('pending', '=', true)
            .execute()
            .catch(() => undefined);
          return err;
        },
      );
  }

  private schedule(): void {
    if (this.scheduled || this.batch.length === 0) return;
    // Two batches in flight at most; the rest gathers meanwhile (one statement for all of them).
    if (this.writing >= 2 && this.batch.length < maxBatch) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.write();
    });
  }

  private async write(): Promise<void> {
    const batch = this.batch.splice(0, maxBatch);
    if (batch.length === 0) return;
    this.writing++;
    try {
      // A key twice in one batch: the first is the push, the others retries of it.
      const first = new Map<string, Pending>();
      const repeats: Pending[] = [];
      for (const p of batch) {
        const id = `${p.row.i}\u0000${p.row.a}\u0000${p.row.k}`;
        if (first.has(id)) repeats.push(p);
        else first.set(id, p);
      }
      const rows = [...first.values()].map((p) => p.row);
      // One statement of the same text for any number of pushes, the rows as one JSON parameter: no query
      // builder on the answer's path, and PostgreSQL parses and plans a short statement instead of a VALUES list
      // of nine parameters per push (a different statement for each batch size).
      const json = JSON.stringify(rows);
      const keep = async (db: ReadModel) =>
        (
          await sql<{ instance_id: string; account_id: string; push_key: string }>`
            INSERT INTO wechat_inbound (instance_id, account_id, push_key, contact_id, received_at, push, pending, attempts, next_attempt_at)
            SELECT v.i, v.a, v.k, NULL, v.r, v.p, true, 0, v.n FROM jsonb_to_recordset(${json}::jsonb) AS v(i text, a text, k text, r timestamptz, p jsonb, n timestamptz)
            ON CONFLICT (instance_id, account_id, push_key) DO NOTHING
            RETURNING instance_id, account_id, push_key`.execute(db)
        ).rows;
      // The intake's own connections failing (a server out of connections, a restart): the shared pool then. Had the
      // first try kept a push after all, the second finds it and calls it a retry: the sweep makes it after its lease.
      const inserted = await keep(this.deps.keepDb ?? this.deps.db).catch((err: unknown) => {
        if (!this.deps.keepDb) throw err;
        this.deps.logger.warn({ err, pushes: rows.length }, "the WeChat intake's own connection failed; pushes kept through the shared pool");
        return keep(this.deps.db);
      });
      const taken = new Set(inserted.map((r) => `${r.instance_id}\u0000${r.account_id}\u0000${r.push_key}`));
      for (const [id, p] of first) p.resolve(taken.has(id));
      for (const p of repeats) p.resolve(false);
    } catch (err) {
      for (const p of batch) p.reject(err);
    } finally {
      this.writing--;
      this.schedule();
    }
  }

  private markDone(d: Done): void {
    this.doneBatch.push(d);
    if (this.doneScheduled) return;
    this.doneScheduled = true;
    // Done marks gathered for a moment: one UPDATE for many pushes (a mark lost to a crash only means a harmless retry).
    setTimeout(() => {
      this.doneScheduled = false;
      void this.flushDone();
    }, 100).unref();
  }

  private async flushDone(): Promise<void> {
    while (this.doneBatch.length > 0) {
      const batch = this.doneBatch.splice(0, 500);
      await sql`
        UPDATE wechat_inbound w SET pending = false, contact_id = COALESCE(v.c, w.contact_id)
        FROM jsonb_to_recordset(${JSON.stringify(batch)}::jsonb) AS v(i text, a text, k text, c text)
        WHERE w.instance_id = v.i AND w.account_id = v.a AND w.push_key = v.k`
        .execute(this.deps.db)
        .catch((err: unknown) => this.deps.logger.warn({ err, pushes: batch.length }, 'WeChat pushes handled but not marked done; a sweep makes them again (harmlessly)'));
    }
  }
}
