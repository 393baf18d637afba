// Frozen once landed: write a new migration instead of editing this one.
// Twilio's latest status of each message moves off the deliveries row into message_statuses, one narrow row
// per MessageSid. Why:
// - Cost. A status callback (about three per message sent, the webhooks' high-volume path) updated the
//   delivery row: 28 columns, 9 indexes opened, 14 CHECK constraints re-read and evaluated, a PL/pgSQL
//   updated_at trigger, a row lock contended by the message's other callbacks. bench/webhooks-cpu.ts
//   (embedded PostgreSQL 18, 10 connections): 1.01–1.06 ms of Postgres CPU per status callback with the
//   UPDATE, 0.85–0.90 ms with this table.
// - Order. A callback may arrive before the sender has written the MessageSid on its delivery (Twilio
//   answers the create call and starts calling back at once). It used to find no delivery, and the
//   sender's later 'queued' stood until reconciliation; now the callback's status is kept under its
//   MessageSid and the sender's 'queued' cannot move it back.
// The status moves forward only, as before (delivery_status_advances); deliveries.error_code keeps the
// send-time error (the API refused the message), message_statuses.error_code the provider's later one.
// Expand, then contract (DEPLOYMENT.md): deliveries.delivery_status stays, no longer written, so code
// deployed before this migration keeps running while a deploy rolls out or back; a later release drops it.
import { type Kysely, sql } from 'kysely';

const LIMIT_QUERY = `
      WITH mine AS MATERIALIZED (
        SELECT e.received_at FROM delivery_status_events e WHERE e.message_sid = p_message_sid
      )
      SELECT count(*), min(r.received_at) INTO v_recent, v_oldest
        FROM (SELECT m.received_at FROM mine m WHERE m.received_at > now() - interval '1 minute'
               ORDER BY m.received_at DESC LIMIT p_limit_per_minute) r;`;

/** receive_status_callback with `apply` as the step that records the status and finds the delivery. */
const statusFunction = (apply: string) =>
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
    v_status text;
    o record;
  BEGIN
    known_delivery := false;
    advanced := false;
    opted_out := false;
    cancelled := '{}';
    IF p_limit_per_minute IS NOT NULL THEN
      ${LIMIT_QUERY}
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
${apply}
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
  await sql`
    CREATE TABLE message_statuses (
      message_sid text PRIMARY KEY,
      status      text NOT NULL CHECK (status ~ '^[a-z_]{2,30}$'),
      error_code  integer,
      updated_at  timestamptz NOT NULL DEFAULT now()
    ) WITH (fillfactor = 80);
    INSERT INTO message_statuses (message_sid, status, error_code, updated_at)
    SELECT message_sid, delivery_status, error_code, updated_at
      FROM deliveries WHERE message_sid IS NOT NULL AND delivery_status IS NOT NULL;
    COMMENT ON COLUMN deliveries.delivery_status IS
      'No longer written (see message_statuses); kept for code deployed before 2026-12-01T1500, dropped in a later release';
  `.execute(db);
  // Forward only, in one write: the upsert locks this MessageSid's row, and under READ COMMITTED the WHERE
  // is checked again on the row as it is once the lock is ours, so racing callbacks cannot move it back.
  await statusFunction(`
    INSERT INTO message_statuses AS x (message_sid, status, error_code)
    VALUES (p_message_sid, p_status, p_error_code)
    ON CONFLICT (message_sid) DO UPDATE
       SET status = excluded.status, error_code = coalesce(excluded.error_code, x.error_code), updated_at = now()
     WHERE delivery_status_advances(x.status, excluded.status)
    RETURNING x.status INTO v_status;
    advanced := v_status IS NOT NULL;
    SELECT x.id, x.subscriber_id INTO v_delivery, v_subscriber FROM deliveries x WHERE x.message_sid = p_message_sid;`).execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    UPDATE deliveries d SET delivery_status = m.status, error_code = coalesce(m.error_code, d.error_code)
      FROM message_statuses m WHERE m.message_sid = d.message_sid;
    COMMENT ON COLUMN deliveries.delivery_status IS NULL;
    DROP TABLE message_statuses;
  `.execute(db);
  await statusFunction(`
    UPDATE deliveries x SET delivery_status = p_status, error_code = coalesce(p_error_code, x.error_code)
     WHERE x.message_sid = p_message_sid AND delivery_status_advances(x.delivery_status, p_status)
    RETURNING x.id, x.subscriber_id INTO v_delivery, v_subscriber;
    advanced := v_delivery IS NOT NULL;
    IF NOT advanced THEN
      SELECT x.id, x.subscriber_id INTO v_delivery, v_subscriber FROM deliveries x WHERE x.message_sid = p_message_sid;
    END IF;`).execute(db);
}
