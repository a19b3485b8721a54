// Event store tables and the append functions. An append is one round trip: `kefu_append` checks the expected
// revision and writes the events and the stream's revision in the caller's transaction. `kefu_append_many`
// does the same for several appends (to any streams) in one transaction, one after the other, each checked on
// its own: an append whose expected revision is wrong, or whose first event id was used by another append,
// writes nothing and is reported in its result row, and the others go on. PostgresEventStore sends the appends
// that queue up while earlier ones are in flight as one kefu_append_many call, so concurrent writers share one
// commit (one WAL flush) instead of one each.
//
// Global order is (tx_id, seq): tx_id is the writing transaction's id. A reader only reads events whose
// transaction id is below the oldest transaction still running in this database (see horizonSql in
// postgres-event-store.ts), so a transaction that commits late can never be skipped: it holds the readers
// back until it ends.
//
// Both functions also tell what the writing process needs to hand the appended events to its own readers
// without reading them back (see PostgresEventStore.finished): once the events were written, lower_tx lists the
// transactions with a lower id still running (comma-separated, '' for none), and prev_tx/prev_seq is the last
// event committed below this transaction (NULL: none). Every other lower transaction had ended (committed or
// aborted: none can commit an event below these later), so the events right before these are prev or the last
// event of one of lower_tx, if those are known to the caller. Checked with this statement's snapshot and
// pg_xact_status (live, not snapshot-bound), so only in READ COMMITTED, where each statement of the function
// takes a new snapshot; when it cannot tell (another isolation level, many ids to check) lower_tx is NULL, and
// the caller reads.

interface AppendOutcomes {
  /** Statements for a wrong expected revision; `actual` is an SQL expression (-1: no stream). */
  conflict: (actual: string) => string;
  /** Statements for a first event id already used by another append. */
  duplicate: string;
  /** Statements for success; the result is in r_rev, r_tx, r_seq, and r_first (NULL: a retry, nothing written). */
  done: string;
  /** Statements run after this call wrote the events, before \`done\`. */
  written: string;
}

/**
 * The application_name a read-model transaction (a projection's batch, a checkpoint move) sets for itself (SET
 * LOCAL: until it ends). Such a transaction never writes events, so neither the readers' horizon (horizonSql in
 * postgres-event-store.ts) nor lower_tx waits for it: with projections' batches running about all the time under
 * a chat load, appends were rarely handed from memory and readers stopped below the batch running, until the
 * next wake-up (issue 11: 87 % of events read back, p50 54 ms after their commit, p99 1.5 s).
 */
export const readModelTransactionName = 'kefu-read-model';

/**
 * Sets r_lower, r_prev_tx and r_prev_seq (see the header) for the transaction that wrote the events. The
 * statement's snapshot lists the lower transactions running when it was taken, except those above the last one
 * the server had seen end (ids from the snapshot's xmax up): pg_xact_status asks about those one by one. A
 * running transaction known to belong to another database cannot write here (as in the readers' horizon).
 */
const lowerCheck = `
  me := pg_current_xact_id();
  snap := pg_current_snapshot();
  r_lower := NULL;
  IF current_setting('transaction_isolation') = 'read committed' AND me::text::bigint - pg_snapshot_xmax(snap)::text::bigint <= 64 THEN
    SELECT coalesce(string_agg(running.x::text, ','), '') INTO r_lower FROM (
        SELECT x FROM pg_snapshot_xip(snap) AS x WHERE x < me
        UNION ALL
        SELECT g.x::text::xid8 FROM generate_series(pg_snapshot_xmax(snap)::text::bigint, me::text::bigint - 1) AS g(x)
        WHERE coalesce(pg_xact_status(g.x::text::xid8) NOT IN ('committed', 'aborted'), true)
      ) AS running(x)
    WHERE NOT EXISTS (
      SELECT 1 FROM pg_stat_activity a
      WHERE a.backend_xid = running.x::xid
        AND ((a.datname IS NOT NULL AND a.datname <> current_database()) OR a.application_name = '${readModelTransactionName}'));
    SELECT e.tx_id::text, e.seq INTO r_prev_tx, r_prev_seq FROM kefu_events e
      WHERE e.tx_id < me ORDER BY e.tx_id DESC, e.seq DESC LIMIT 1;
  END IF;`;

/**
 * The body of one append, over the variables p_stream, p_expected (text: 'no_stream', 'any', 'stream_exists'
 * or a revision) and p_events (jsonb array of {id, type, data, metadata}). Shared by both functions so that a
 * batched append does exactly what a single one does.
 */
function appendBody(o: AppendOutcomes): string {
  // Checked first, and again when the expected revision looks wrong: an identical append racing this one
  // may have committed while this one waited for the stream's row lock (a statement that starts after the
  // wait sees it), and that is a retry, not a conflict.
  const retried = (conflict: string) => `
  SELECT e.stream_id, e.revision INTO existing_stream, existing_rev FROM kefu_events e WHERE e.event_id = first_id;
  IF FOUND THEN
    IF existing_stream = p_stream AND (
      SELECT count(*) FROM kefu_events e, jsonb_array_elements(p_events) WITH ORDINALITY AS u(ev, ord)
      WHERE e.event_id = (u.ev->>'id')::uuid AND e.stream_id = p_stream AND e.revision = existing_rev + u.ord - 1
    ) = n THEN
      SELECT e.revision, e.tx_id::text, e.seq INTO r_rev, r_tx, r_seq FROM kefu_events e
        WHERE e.stream_id = p_stream AND e.revision = existing_rev + n - 1;
      r_first := NULL;
      ${o.done}
    END IF;
    ${o.duplicate}
  END IF;${conflict}`;
  return `
  n := jsonb_array_length(p_events);
  first_id := (p_events->0->>'id')::uuid;
  -- A retry of an append that already happened: same ids, same stream, consecutive revisions.${retried('')}

  -- One conditional statement per case: a stream row is locked and moved in the same step.
  IF p_expected = 'no_stream' THEN
    INSERT INTO kefu_streams (stream_id, revision) VALUES (p_stream, n - 1) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
      SELECT s.revision INTO cur FROM kefu_streams s WHERE s.stream_id = p_stream;${retried(`
      ${o.conflict('coalesce(cur, -1)')}`)}
    END IF;
    cur := -1;
  ELSIF p_expected ~ '^[0-9]+$' THEN
    UPDATE kefu_streams s SET revision = s.revision + n WHERE s.stream_id = p_stream AND s.revision = p_expected::bigint
      RETURNING s.revision - n INTO cur;
    IF NOT FOUND THEN
      SELECT s.revision INTO cur FROM kefu_streams s WHERE s.stream_id = p_stream;${retried(`
      ${o.conflict('coalesce(cur, -1)')}`)}
    END IF;
  ELSE
    -- 'any' or 'stream_exists'
    UPDATE kefu_streams s SET revision = s.revision + n WHERE s.stream_id = p_stream RETURNING s.revision - n INTO cur;
    IF NOT FOUND THEN
      IF p_expected = 'stream_exists' THEN
        ${o.conflict('-1')}
      END IF;
      INSERT INTO kefu_streams (stream_id, revision) VALUES (p_stream, n - 1) ON CONFLICT DO NOTHING;
      IF FOUND THEN
        cur := -1;
      ELSE
        -- Created by another transaction after our update found nothing.
        UPDATE kefu_streams s SET revision = s.revision + n WHERE s.stream_id = p_stream RETURNING s.revision - n INTO cur;
      END IF;
    END IF;
  END IF;

  -- The rows take their seq in ord order: first and last are the first and last event's (consecutive unless
  -- another session drew from the sequence in between).
  WITH ins AS (
    INSERT INTO kefu_events (event_id, stream_id, revision, type, data, metadata)
    SELECT (u.ev->>'id')::uuid, p_stream, cur + u.ord, u.ev->>'type', u.ev->'data', u.ev->'metadata'
    FROM jsonb_array_elements(p_events) WITH ORDINALITY AS u(ev, ord)
    ORDER BY u.ord
    RETURNING kefu_events.seq)
  SELECT min(ins.seq), max(ins.seq) INTO r_first, r_seq FROM ins;

  r_rev := cur + n;
  r_tx := pg_current_xact_id()::text;
  ${o.written}
  ${o.done}`;
}

const appendVariables = `
  cur bigint;
  n int;
  first_id uuid;
  existing_stream text;
  existing_rev bigint;
  r_rev bigint;
  r_tx text;
  r_seq bigint;
  r_first bigint;
  r_lower text;
  r_prev_tx text;
  r_prev_seq bigint;
  me xid8;
  snap pg_snapshot;`;

export const eventStoreSchemaSql = `
CREATE TABLE IF NOT EXISTS kefu_streams (
  stream_id text PRIMARY KEY,
  revision bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS kefu_events (
  seq bigserial NOT NULL,
  tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
  event_id uuid NOT NULL,
  stream_id text NOT NULL,
  revision bigint NOT NULL,
  type text NOT NULL,
  data jsonb NOT NULL,
  metadata jsonb NOT NULL,
  PRIMARY KEY (tx_id, seq),
  CONSTRAINT kefu_events_event_id UNIQUE (event_id),
  CONSTRAINT kefu_events_stream_revision UNIQUE (stream_id, revision)
);

-- Both functions plan their statements once per connection (plan_cache_mode = force_generic_plan): left to
-- choose, PL/pgSQL planned several of them again at every call (a custom plan looked cheaper for the lower
-- transactions' check, whose generate_series bounds are parameters), which was about a fifth of PostgreSQL's CPU
-- under a chat load; every statement here is a lookup by key or a scan of the call's own arguments, which the
-- generic plan does as well.

-- No NOTIFY in these functions: a transaction that notifies holds a cluster-wide lock through its commit
-- flush, which made concurrent appends commit one at a time. The store notifies after commit instead.

-- Functions of an earlier schema whose results had fewer columns (a function's result type cannot be replaced).
DO $drop$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'kefu_append' AND pronamespace = current_schema()::regnamespace AND NOT ('lower_tx' = ANY (proargnames))) THEN
    DROP FUNCTION kefu_append(text, text, jsonb);
  END IF;
  IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'kefu_append_many' AND pronamespace = current_schema()::regnamespace AND NOT ('lower_tx' = ANY (proargnames))) THEN
    DROP FUNCTION kefu_append_many(text[], text[], jsonb);
  END IF;
END
$drop$;

-- One append. Raises KF001 (wrong expected revision; DETAIL: the actual revision, -1 for no stream) or KF002
-- (the first event id was used by another append). first_seq is the first event's seq, NULL for a retry of an
-- append that had happened (nothing written); lower_tx, prev_tx and prev_seq: see the top of this file.
CREATE OR REPLACE FUNCTION kefu_append(p_stream text, p_expected text, p_events jsonb)
RETURNS TABLE (next_revision bigint, tx text, last_seq bigint, first_seq bigint, lower_tx text, prev_tx text, prev_seq bigint)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $fn$
DECLARE${appendVariables}
BEGIN${appendBody({
  conflict: (actual) => `RAISE EXCEPTION 'wrong expected revision' USING ERRCODE = 'KF001', DETAIL = (${actual})::text;`,
  duplicate: `RAISE EXCEPTION 'event id % was already appended elsewhere', first_id USING ERRCODE = 'KF002';`,
  written: lowerCheck,
  done: 'RETURN QUERY SELECT r_rev, r_tx, r_seq, r_first, r_lower, r_prev_tx, r_prev_seq; RETURN;',
})}
END
$fn$;

-- Several appends in one transaction, in array order (two appends to one stream behave as if made one after
-- the other). One row per append: status 0 appended (or an idempotent retry), next_revision, tx and
-- last_seq as kefu_append returns them; status 1 wrong expected revision, next_revision = the actual one (-1:
-- no stream); status 2 first event id used by another append. An append with status 1 or 2 wrote nothing.
-- Any other error (say, a later event id used elsewhere) fails the whole call, and the caller retries the
-- appends one by one. first_seq as kefu_append returns it. When any append wrote events, a last row with item
-- -1 and status 3 gives lower_tx, prev_tx and prev_seq for the whole call (see the top of this file).
CREATE OR REPLACE FUNCTION kefu_append_many(p_streams text[], p_expecteds text[], p_batch jsonb)
RETURNS TABLE (item int, status int, next_revision bigint, tx text, last_seq bigint, first_seq bigint, lower_tx text, prev_tx text, prev_seq bigint)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $fn$
DECLARE${appendVariables}
  p_stream text;
  p_expected text;
  p_events jsonb;
  wrote boolean := false;
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_streams, 1), 0) LOOP
    p_stream := p_streams[i];
    p_expected := p_expecteds[i];
    p_events := p_batch->(i - 1);
    item := i - 1;${appendBody({
      conflict: (actual) => `status := 1; next_revision := ${actual}; tx := NULL; last_seq := NULL; first_seq := NULL; RETURN NEXT; CONTINUE;`,
      duplicate: 'status := 2; next_revision := NULL; tx := NULL; last_seq := NULL; first_seq := NULL; RETURN NEXT; CONTINUE;',
      written: 'wrote := true;',
      done: 'status := 0; next_revision := r_rev; tx := r_tx; last_seq := r_seq; first_seq := r_first; RETURN NEXT; CONTINUE;',
    }).replace(/\n(?=.)/g, '\n  ')}
  END LOOP;
  IF wrote THEN${lowerCheck.replace(/\n(?=.)/g, '\n  ')}
    item := -1; status := 3; next_revision := NULL; tx := NULL; last_seq := NULL; first_seq := NULL;
    lower_tx := r_lower; prev_tx := r_prev_tx; prev_seq := r_prev_seq;
    RETURN NEXT;
  END IF;
END
$fn$;
`;
