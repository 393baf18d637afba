// Frozen once landed: write a new migration instead of editing this one.
// Each webhook's state change as one SQL function call, so a request costs one round trip and one commit
// (it was ~8 round trips inside a transaction, plus one for the rate limiter):
//   opt_out_subscriber       THE opt-out path, whoever asks (SMS keyword or phrase, status callback 21610,
//                            send-time 21610, API delete, CLI remove): row lock, planned deliveries
//                            cancelled (their ids returned so the caller deletes their schedules), status,
//                            one consent event only when the status changed.
//   receive_inbound_sms      dedupe by MessageSid, per-sender limit, opt-out / opt-in / help / other.
//   receive_status_callback  dedupe by (MessageSid, status), per-message limit, forward-only status,
//                            carrier opt-out through opt_out_subscriber.
// The per-minute limits count the rows these webhooks store anyway (inbound_messages by sender,
// delivery_status_events by MessageSid), so the check needs no counter table and no extra round trip; a
// replay stores nothing and so is never counted. Opt-outs are never limited.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    -- A delivery row is updated about five times in its life (claim, record, three statuses), none of them
    -- touching an indexed column: room on the page lets each be a HOT update instead of a new entry in all
    -- eight of its indexes. Applies to pages written from now on.
    ALTER TABLE deliveries SET (fillfactor = 85);

    -- Mirrors src/domain/delivery-status.ts (shouldAdvance); a test checks both agree on every pair.
    CREATE FUNCTION delivery_status_rank(p_status text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE p_status
        WHEN 'scheduled' THEN 0 WHEN 'accepted' THEN 0 WHEN 'queued' THEN 0
        WHEN 'sending' THEN 1 WHEN 'sent' THEN 2
        WHEN 'delivered' THEN 3 WHEN 'undelivered' THEN 3 WHEN 'failed' THEN 3 WHEN 'canceled' THEN 3
        WHEN 'partially_delivered' THEN 3
        WHEN 'read' THEN 4
      END
    $$;

    CREATE FUNCTION delivery_status_advances(p_current text, p_next text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE
        WHEN delivery_status_rank(p_next) IS NULL THEN false
        WHEN p_current IS NULL OR delivery_status_rank(p_current) IS NULL THEN true
        WHEN p_next = 'read' THEN p_current = 'delivered' OR delivery_status_rank(p_current) < 3
        ELSE delivery_status_rank(p_next) > delivery_status_rank(p_current)
      END
    $$;

    CREATE FUNCTION opt_out_subscriber(
      p_subscriber_id integer,
      p_source text,
      p_now timestamptz,
      p_message_sid text DEFAULT NULL,
      p_trigger_text text DEFAULT NULL,
      p_erase_name boolean DEFAULT false,
      OUT subscriber_id integer,
      OUT changed boolean,
      OUT cancelled text[]
    ) LANGUAGE plpgsql AS $$
    DECLARE
      v_phone text;
    BEGIN
      cancelled := '{}';
      -- The usual case in one write: the UPDATE takes the row lock and says whether the status changed.
      UPDATE subscribers x
         SET status = 'opted_out', opted_out_at = p_now, name = CASE WHEN p_erase_name THEN NULL ELSE x.name END
       WHERE x.id = p_subscriber_id AND x.status <> 'opted_out'
      RETURNING x.id, x.phone INTO subscriber_id, v_phone;
      changed := subscriber_id IS NOT NULL;
      IF NOT changed THEN
        -- Already out (or no such row): lock it all the same, so a concurrent START waits for us.
        SELECT x.id, x.phone INTO subscriber_id, v_phone FROM subscribers x WHERE x.id = p_subscriber_id FOR UPDATE;
        IF subscriber_id IS NULL THEN
          RETURN;
        END IF;
        IF p_erase_name THEN
          UPDATE subscribers x SET name = NULL WHERE x.id = subscriber_id AND x.name IS NOT NULL;
        END IF;
      END IF;
      WITH c AS (
        UPDATE deliveries d SET state = 'cancelled', reason = 'opted_out'
         WHERE d.subscriber_id = opt_out_subscriber.subscriber_id AND d.state = 'planned'
        RETURNING d.id
      )
      SELECT coalesce(array_agg(c.id::text), '{}') INTO cancelled FROM c;
      IF changed THEN
        INSERT INTO consent_events (subscriber_id, phone, kind, source, trigger_text, message_sid)
        VALUES (opt_out_subscriber.subscriber_id, v_phone, 'opt_out', p_source, left(p_trigger_text, 1600), p_message_sid);
      END IF;
    END $$;

    CREATE FUNCTION receive_inbound_sms(
      p_message_sid text,
      p_from text,
      p_to text,
      p_body text,
      p_kind text,
      p_default_time_zone text,
      p_now timestamptz,
      p_limit_per_minute integer,
      OUT outcome text,
      OUT subscriber_id integer,
      OUT consent_kind text,
      OUT cancelled text[],
      OUT retry_after_ms integer
    ) LANGUAGE plpgsql AS $$
    DECLARE
      v_recent integer;
      v_oldest timestamptz;
      s subscribers;
      o record;
    BEGIN
      cancelled := '{}';
      -- One text, one application: a repeat of this MessageSid waits here until the first commits, then
      -- finds it stored. (The unique index stays the last word.)
      PERFORM pg_advisory_xact_lock(hashtextextended(p_message_sid, 0));
      IF EXISTS (SELECT 1 FROM inbound_messages i WHERE i.message_sid = p_message_sid) THEN
        outcome := 'duplicate';
        RETURN;
      END IF;
      IF p_kind <> 'opt_out' AND p_limit_per_minute IS NOT NULL THEN
        SELECT count(*), min(r.received_at) INTO v_recent, v_oldest
          FROM (SELECT i.received_at FROM inbound_messages i
                 WHERE i.from_phone = p_from AND i.received_at > now() - interval '1 minute'
                 ORDER BY i.received_at DESC LIMIT p_limit_per_minute) r;
        IF v_recent >= p_limit_per_minute THEN
          outcome := 'limited';
          retry_after_ms := greatest(1000, ceil(extract(epoch FROM (v_oldest + interval '1 minute' - now())) * 1000))::integer;
          RETURN;
        END IF;
      END IF;
      outcome := 'applied';

      IF p_kind = 'opt_out' THEN
        SELECT x.id INTO subscriber_id FROM subscribers x WHERE x.phone = p_from;
        IF subscriber_id IS NULL THEN
          -- A number we never knew gets an opted_out row: the ledger proves we honoured the request.
          INSERT INTO subscribers (phone, status, opted_out_at, time_zone)
          VALUES (p_from, 'opted_out', p_now, p_default_time_zone)
          ON CONFLICT (phone) DO NOTHING
          RETURNING id INTO subscriber_id;
          IF subscriber_id IS NOT NULL THEN
            INSERT INTO consent_events (subscriber_id, phone, kind, source, trigger_text, message_sid)
            VALUES (receive_inbound_sms.subscriber_id, p_from, 'opt_out', 'sms', left(p_body, 1600), p_message_sid);
            consent_kind := 'opt_out';
          ELSE
            SELECT x.id INTO subscriber_id FROM subscribers x WHERE x.phone = p_from;
          END IF;
        END IF;
        IF consent_kind IS NULL THEN
          SELECT * INTO o FROM opt_out_subscriber(subscriber_id, 'sms', p_now, p_message_sid, p_body);
          cancelled := o.cancelled;
          consent_kind := CASE WHEN o.changed THEN 'opt_out' END;
        END IF;
      ELSIF p_kind = 'opt_in' THEN
        INSERT INTO subscribers (phone, status, time_zone, confirmed_at)
        VALUES (p_from, 'active', p_default_time_zone, p_now)
        ON CONFLICT (phone) DO NOTHING
        RETURNING * INTO s;
        IF s.id IS NOT NULL THEN
          consent_kind := 'opt_in';
        ELSE
          SELECT * INTO s FROM subscribers x WHERE x.phone = p_from FOR UPDATE;
          IF s.status <> 'active' THEN
            consent_kind := CASE WHEN s.status = 'pending' THEN 'confirm' ELSE 'opt_in' END;
            UPDATE subscribers SET status = 'active', confirmed_at = p_now, opted_out_at = NULL WHERE id = s.id;
          END IF;
        END IF;
        subscriber_id := s.id;
        IF consent_kind IS NOT NULL THEN
          INSERT INTO consent_events (subscriber_id, phone, kind, source, trigger_text, message_sid)
          VALUES (s.id, p_from, consent_kind, 'sms', left(p_body, 1600), p_message_sid);
        END IF;
      ELSE
        SELECT x.id INTO subscriber_id FROM subscribers x WHERE x.phone = p_from;
      END IF;

      INSERT INTO inbound_messages (message_sid, from_phone, to_phone, body, classification, subscriber_id)
      VALUES (p_message_sid, p_from, p_to, left(p_body, 1600), p_kind, receive_inbound_sms.subscriber_id);
    END $$;

    CREATE FUNCTION receive_status_callback(
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
        SELECT count(*), min(r.received_at) INTO v_recent, v_oldest
          FROM (SELECT e.received_at FROM delivery_status_events e
                 WHERE e.message_sid = p_message_sid AND e.received_at > now() - interval '1 minute'
                 ORDER BY e.received_at DESC LIMIT p_limit_per_minute) r;
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
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE deliveries RESET (fillfactor);
    DROP FUNCTION receive_status_callback(text, text, integer, boolean, text, timestamptz, integer);
    DROP FUNCTION receive_inbound_sms(text, text, text, text, text, text, timestamptz, integer);
    DROP FUNCTION opt_out_subscriber(integer, text, timestamptz, text, text, boolean);
    DROP FUNCTION delivery_status_advances(text, text);
    DROP FUNCTION delivery_status_rank(text);
  `.execute(db);
}
