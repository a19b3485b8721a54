// Event store tables and the append function. Appends are one round trip: `kefu_append` checks the expected
// revision and writes the events and the stream's revision in the caller's transaction.
//
// Global order is (tx_id, seq): tx_id is the writing transaction's id. A reader only reads events whose
// transaction id is below the oldest transaction still running in this database (see horizonSql in
// postgres-event-store.ts), so a transaction that commits late can never be skipped: it holds the readers
// back until it ends.
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

CREATE OR REPLACE FUNCTION kefu_append(p_stream text, p_expected text, p_events jsonb)
RETURNS TABLE (next_revision bigint, tx text, last_seq bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
  cur bigint;
  n int := jsonb_array_length(p_events);
  first_id uuid := (p_events->0->>'id')::uuid;
  existing_stream text;
  existing_rev bigint;
BEGIN
  -- A retry of an append that already happened: same ids, same stream, consecutive revisions.
  SELECT e.stream_id, e.revision INTO existing_stream, existing_rev FROM kefu_events e WHERE e.event_id = first_id;
  IF FOUND THEN
    IF existing_stream = p_stream AND (
      SELECT count(*) FROM kefu_events e, jsonb_array_elements(p_events) WITH ORDINALITY AS u(ev, ord)
      WHERE e.event_id = (u.ev->>'id')::uuid AND e.stream_id = p_stream AND e.revision = existing_rev + u.ord - 1
    ) = n THEN
      RETURN QUERY SELECT e.revision, e.tx_id::text, e.seq FROM kefu_events e
        WHERE e.stream_id = p_stream AND e.revision = existing_rev + n - 1;
      RETURN;
    END IF;
    RAISE EXCEPTION 'event id % was already appended elsewhere', first_id USING ERRCODE = 'KF002';
  END IF;

  -- One conditional statement per case: a stream row is locked and moved in the same step.
  IF p_expected = 'no_stream' THEN
    INSERT INTO kefu_streams (stream_id, revision) VALUES (p_stream, n - 1) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
      SELECT s.revision INTO cur FROM kefu_streams s WHERE s.stream_id = p_stream;
      RAISE EXCEPTION 'wrong expected revision' USING ERRCODE = 'KF001', DETAIL = coalesce(cur, -1)::text;
    END IF;
    cur := -1;
  ELSIF p_expected ~ '^[0-9]+$' THEN
    UPDATE kefu_streams s SET revision = s.revision + n WHERE s.stream_id = p_stream AND s.revision = p_expected::bigint
      RETURNING s.revision - n INTO cur;
    IF NOT FOUND THEN
      SELECT s.revision INTO cur FROM kefu_streams s WHERE s.stream_id = p_stream;
      RAISE EXCEPTION 'wrong expected revision' USING ERRCODE = 'KF001', DETAIL = coalesce(cur, -1)::text;
    END IF;
  ELSE
    -- 'any' or 'stream_exists'
    UPDATE kefu_streams s SET revision = s.revision + n WHERE s.stream_id = p_stream RETURNING s.revision - n INTO cur;
    IF NOT FOUND THEN
      IF p_expected = 'stream_exists' THEN
        RAISE EXCEPTION 'wrong expected revision' USING ERRCODE = 'KF001', DETAIL = '-1';
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

  -- No NOTIFY here: a transaction that notifies holds a cluster-wide lock through its commit flush, which
  -- made concurrent appends commit one at a time. The store notifies after commit instead.
  RETURN QUERY SELECT cur + n, pg_current_xact_id()::text, currval(pg_get_serial_sequence('kefu_events', 'seq'));
END
$fn$;
`;
