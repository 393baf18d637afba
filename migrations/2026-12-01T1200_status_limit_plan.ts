// Frozen once landed: write a new migration instead of editing this one.
// receive_status_callback counted this MessageSid's statuses of the last minute with
//   WHERE message_sid = $1 AND received_at > now() - '1 minute' ORDER BY received_at DESC LIMIT $2
// PL/pgSQL switches to a generic plan after five calls, and for that one Postgres preferred walking
// delivery_status_events_received_idx backwards over EVERY status event of the last minute, filtering on
// message_sid: at 1,000 callbacks a second that is ~60,000 index entries read per callback (1.7 ms and 89
// buffers per call at 6,000; EXPLAIN through auto_explain with log_nested_statements). A MessageSid has a
// handful of statuses at most (one row per (message_sid, status)), so its rows are read through that
// unique index first (MATERIALIZED keeps the planner from folding the time filter back in), then
// filtered and ordered: 2 buffers whatever the traffic. Otherwise the function is unchanged.
import { type Kysely, sql } from 'kysely';

const body = (limitQuery: string) =>
  sql.raw(`
  CREATE OR REPLACE FUNCTION receive_status_callback(
    p_message_sid text,
    p_status text,
    p_error_code integer,
    p_recipient_opted_out boolean,
    p_to text,
    p_now timestamptz,
    p_limit_per_minute integer,
    OUT outcome text,
    OUT known_delivery boolean,
    OUT advanced boolean,
    OUT opted_out boolean,
    OUT cancelled text[],
    OUT retry_after_ms integer
  ) LANGUAGE plpgsql AS $$
  DECLARE
    v_event_id bigint;
    v_recent integer;
    v_oldest timestamptz;
    v_subscriber integer;
    v_delivery uuid;
    o record;
  BEGIN
    known_delivery := false;
    advanced := false;
    opted_out := false;
    cancelled := '{}';
    IF p_limit_per_minute IS NOT NULL THEN
      ${limitQuery}
      IF v_recent >= p_limit_per_minute THEN
        IF EXISTS (SELECT 1 FROM delivery_status_events e
                    WHERE e.message_sid = p_message_sid AND e.status = p_status) THEN
          outcome := 'duplicate';
        ELSE
          outcome := 'limited';
          retry_after_ms := greatest(1000, ceil(extract(epoch FROM (v_oldest + interval '1 minute' - now())) * 1000))::integer;
        END IF;
        RETURN;
      END IF;
    END IF;

    INSERT INTO delivery_status_events (message_sid, status, error_code)
    VALUES (p_message_sid, p_status, p_error_code)
    ON CONFLICT (message_sid, status) DO NOTHING
    RETURNING id INTO v_event_id;
    IF v_event_id IS NULL THEN
      outcome := 'duplicate';
      RETURN;
    END IF;
    outcome := 'applied';

    -- Forward only, in one write: under READ COMMITTED the WHERE is checked again on the row as it is
    -- once its lock is ours, so two callbacks racing each other cannot move it backwards.
    UPDATE deliveries x SET delivery_status = p_status, error_code = coalesce(p_error_code, x.error_code)
     WHERE x.message_sid = p_message_sid AND delivery_status_advances(x.delivery_status, p_status)
    RETURNING x.id, x.subscriber_id INTO v_delivery, v_subscriber;
    advanced := v_delivery IS NOT NULL;
    IF NOT advanced THEN
      SELECT x.id, x.subscriber_id INTO v_delivery, v_subscriber FROM deliveries x WHERE x.message_sid = p_message_sid;
    END IF;
    known_delivery := v_delivery IS NOT NULL;

    IF p_recipient_opted_out THEN
      v_subscriber := coalesce(v_subscriber, (SELECT x.id FROM subscribers x WHERE x.phone = p_to));
      IF v_subscriber IS NOT NULL THEN
        SELECT * INTO o FROM opt_out_subscriber(v_subscriber, 'carrier', p_now, p_message_sid, NULL);
        opted_out := o.changed;
        cancelled := o.cancelled;
      END IF;
    END IF;
  END $$;
`);

export async function up(db: Kysely<any>): Promise<void> {
  await body(`
      WITH mine AS MATERIALIZED (
        SELECT e.received_at FROM delivery_status_events e WHERE e.message_sid = p_message_sid
      )
      SELECT count(*), min(r.received_at) INTO v_recent, v_oldest
        FROM (SELECT m.received_at FROM mine m WHERE m.received_at > now() - interval '1 minute'
               ORDER BY m.received_at DESC LIMIT p_limit_per_minute) r;`).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await body(`
      SELECT count(*), min(r.received_at) INTO v_recent, v_oldest
        FROM (SELECT e.received_at FROM delivery_status_events e
               WHERE e.message_sid = p_message_sid AND e.received_at > now() - interval '1 minute'
               ORDER BY e.received_at DESC LIMIT p_limit_per_minute) r;`).execute(db);
}
