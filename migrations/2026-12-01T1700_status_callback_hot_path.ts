// Frozen once landed: write a new migration instead of editing this one.
// receive_status_callback, the webhooks' highest-volume path (about three callbacks per message sent), does
// less for the same answers. Postgres CPU per call, 10 connections, embedded PostgreSQL 18: 0.37–0.49 ms
// before, 0.17–0.19 ms with only change 1 (the commit's wait was half of it); 2 and 3 saved ~0.03 and ~0.02.
// 1. Its transaction commits without waiting for its WAL to reach disk (synchronous_commit off for that
//    transaction only), except when it records a carrier opt-out (Twilio's 21610), a consent change whose
//    cancelled schedules are removed right after the commit. Asynchronous commit never corrupts or
//    reorders anything; a crash of the database server can lose only the callbacks acknowledged in the
//    last moments before it (about 3 × wal_writer_delay, 600 ms by default), and no message's status is
//    lost for good: a later callback supersedes an intermediate one, and the daily reconciliation asks
//    Twilio about every message sent without a final status (docs/observability.md); only the event row
//    of a lost intermediate status stays missing from the history.
// 2. The per-message limit counts stored statuses only for a status Twilio does not document. A
//    documented one (delivery_status_rank) is stored at most once per message anyway, so the limit could
//    only ever refuse a genuine delivered or failed after a flood of made-up ones; now it never does, and
//    the count is not run on the usual path.
// 3. The delivery with the MessageSid is looked up only for a carrier opt-out (its subscriber);
//    known_delivery is null otherwise. Only a DEBUG line read it, and a status is kept under its
//    MessageSid whether or not a delivery has it yet.
// Same signature and result columns: code deployed before this migration calls it unchanged.
import { type Kysely, sql } from 'kysely';

/** The delivery with the callback's MessageSid, and its subscriber (indented by `pad`). */
const findDelivery = (
  pad: string,
) => `${pad}SELECT x.id, x.subscriber_id INTO v_delivery, v_subscriber FROM deliveries x WHERE x.message_sid = p_message_sid;
${pad}known_delivery := v_delivery IS NOT NULL;
`;

/** receive_status_callback as migration 2026-12-01T1500 made it (false) or as this one makes it (true). */
const statusFunction = (hotPath: boolean) =>
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
    known_delivery := ${hotPath ? 'NULL' : 'false'};
    advanced := false;
    opted_out := false;
    cancelled := '{}';
    IF p_limit_per_minute IS NOT NULL${hotPath ? ' AND delivery_status_rank(p_status) IS NULL' : ''} THEN
      WITH mine AS MATERIALIZED (
        SELECT e.received_at FROM delivery_status_events e WHERE e.message_sid = p_message_sid
      )
      SELECT count(*), min(r.received_at) INTO v_recent, v_oldest
        FROM (SELECT m.received_at FROM mine m WHERE m.received_at > now() - interval '1 minute'
               ORDER BY m.received_at DESC LIMIT p_limit_per_minute) r;
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
${
  hotPath
    ? `    -- Until the end of this transaction (is_local): a lost status is asked again, a carrier opt-out is not.
    IF NOT p_recipient_opted_out THEN
      PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
`
    : ''
}
    INSERT INTO message_statuses AS x (message_sid, status, error_code)
    VALUES (p_message_sid, p_status, p_error_code)
    ON CONFLICT (message_sid) DO UPDATE
       SET status = excluded.status, error_code = coalesce(excluded.error_code, x.error_code), updated_at = now()
     WHERE delivery_status_advances(x.status, excluded.status)
    RETURNING x.status INTO v_status;
    advanced := v_status IS NOT NULL;
${hotPath ? '' : findDelivery('    ')}
    IF p_recipient_opted_out THEN
${hotPath ? `      -- Looked up only here, for its subscriber; known_delivery is null otherwise.\n${findDelivery('      ')}` : ''}      v_subscriber := coalesce(v_subscriber, (SELECT x.id FROM subscribers x WHERE x.phone = p_to));
      IF v_subscriber IS NOT NULL THEN
        SELECT * INTO o FROM opt_out_subscriber(v_subscriber, 'carrier', p_now, p_message_sid, NULL);
        opted_out := o.changed;
        cancelled := o.cancelled;
      END IF;
    END IF;
  END $$;
`);

export async function up(db: Kysely<any>): Promise<void> {
  await statusFunction(true).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await statusFunction(false).execute(db);
}
