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

interface AppendOutcomes {
  /** Statements for a wrong expected revision; `actual` is an SQL expression (-1: no stream). */
  conflict: (actual: string) => string;
  /** Statements for a first event id already used by another append. */
  duplicate: string;
  /** Statements for success; the result is in r_rev, r_tx, r_seq. */
  done: string;
}

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

  INSERT INTO kefu_events (event_id, stream_id, revision, type, data, metadata)
  SELECT (u.ev->>'id')::uuid, p_stream, cur + u.ord, u.ev->>'type', u.ev->'data', u.ev->'metadata'
  FROM jsonb_array_elements(p_events) WITH ORDINALITY AS u(ev, ord)
  ORDER BY u.ord;

  -- The rows take their seq in ord order, so the last value of the sequence is the last event's.
  r_rev := cur + n;
  r_tx := pg_current_xact_id()::text;
  r_seq := lastval();
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
  r_seq bigint;`;

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

-- No NOTIFY in these functions: a transaction that notifies holds a cluster-wide lock through its commit
-- flush, which made concurrent appends commit one at a time. The store notifies after commit instead.

-- One append. Raises KF001 (wrong expected revision; DETAIL: the actual revision, -1 for no stream) or KF002
-- (the first event id was used by another append).
CREATE OR REPLACE FUNCTION kefu_append(p_stream text, p_expected text, p_events jsonb)
RETURNS TABLE (next_revision bigint, tx text, last_seq bigint)
LANGUAGE plpgsql AS $fn$
DECLARE${appendVariables}
BEGIN${appendBody({
  conflict: (actual) => `RAISE EXCEPTION 'wrong expected revision' USING ERRCODE = 'KF001', DETAIL = (${actual})::text;`,
  duplicate: `RAISE EXCEPTION 'event id % was already appended elsewhere', first_id USING ERRCODE = 'KF002';`,
  done: 'RETURN QUERY SELECT r_rev, r_tx, r_seq; RETURN;',
})}
END
$fn$;

-- Several appends in one transaction, in array order (two appends to one stream behave as if made one after
-- the other). One row per append: status 0 appended (or an idempotent retry), next_revision, tx and
-- last_seq as kefu_append returns them; status 1 wrong expected revision, next_revision = the actual one (-1:
-- no stream); status 2 first event id used by another append. An append with status 1 or 2 wrote nothing.
-- Any other error (say, a later event id used elsewhere) fails the whole call, and the caller retries the
-- appends one by one.
CREATE OR REPLACE FUNCTION kefu_append_many(p_streams text[], p_expecteds text[], p_batch jsonb)
RETURNS TABLE (item int, status int, next_revision bigint, tx text, last_seq bigint)
LANGUAGE plpgsql AS $fn$
DECLARE${appendVariables}
  p_stream text;
  p_expected text;
  p_events jsonb;
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_streams, 1), 0) LOOP
    p_stream := p_streams[i];
    p_expected := p_expecteds[i];
    p_events := p_batch->(i - 1);
    item := i - 1;${appendBody({
      conflict: (actual) => `status := 1; next_revision := ${actual}; tx := NULL; last_seq := NULL; RETURN NEXT; CONTINUE;`,
      duplicate: 'status := 2; next_revision := NULL; tx := NULL; last_seq := NULL; RETURN NEXT; CONTINUE;',
      done: 'status := 0; next_revision := r_rev; tx := r_tx; last_seq := r_seq; RETURN NEXT; CONTINUE;',
    }).replace(/\n(?=.)/g, '\n  ')}
  END LOOP;
END
$fn$;
`;
