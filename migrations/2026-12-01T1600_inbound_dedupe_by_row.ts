// Frozen once landed: write a new migration instead of editing this one.
// receive_inbound_sms stores the text first and lets the unique index on inbound_messages.message_sid do the
// dedupe: a repeat waits on the first attempt's index entry until it commits, then finds it and changes
// nothing. That is the advisory lock's and the EXISTS check's job done by the write the function makes
// anyway, so a STOP from a subscriber runs 5 statements where it ran 8 (the subscriber is looked up inside
// the INSERT). The rest is unchanged: the per-sender limit is checked first (a refused text is not stored),
// an opt-out is never limited, a number first heard from gets its row written with its new subscriber.
// Storing the text first takes a KEY SHARE lock on the subscriber (the foreign key) before the consent work
// locks the row, so two texts from one number would deadlock if that lock were FOR UPDATE, which conflicts
// with KEY SHARE. It is FOR NO KEY UPDATE now, here and in opt_out_subscriber: what an UPDATE that keeps
// the key takes anyway, still exclusive against every other consent change, and no longer waiting on
// transactions that merely reference the subscriber (the planner inserting deliveries).
// Same signatures and results: code deployed before this migration calls them unchanged.
import { type Kysely, sql } from 'kysely';

/** opt_out_subscriber as migration 2026-12-01T0930 made it, but for the lock on an already opted-out row. */
const optOutSubscriber = (lock: 'FOR UPDATE' | 'FOR NO KEY UPDATE') =>
  sql.raw(`
    CREATE OR REPLACE FUNCTION opt_out_subscriber(
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
        SELECT x.id, x.phone INTO subscriber_id, v_phone FROM subscribers x WHERE x.id = p_subscriber_id ${lock};
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
`);

export async function up(db: Kysely<any>): Promise<void> {
  await optOutSubscriber('FOR NO KEY UPDATE').execute(db);
  await sql`
    CREATE OR REPLACE FUNCTION receive_inbound_sms(
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
      v_inbound bigint;
      s subscribers;
      o record;
    BEGIN
      cancelled := '{}';
      IF p_kind <> 'opt_out' AND p_limit_per_minute IS NOT NULL THEN
        SELECT count(*), min(r.received_at) INTO v_recent, v_oldest
          FROM (SELECT i.received_at FROM inbound_messages i
                 WHERE i.from_phone = p_from AND i.received_at > now() - interval '1 minute'
                 ORDER BY i.received_at DESC LIMIT p_limit_per_minute) r;
        IF v_recent >= p_limit_per_minute THEN
          IF EXISTS (SELECT 1 FROM inbound_messages i WHERE i.message_sid = p_message_sid) THEN
            outcome := 'duplicate';
          ELSE
            outcome := 'limited';
            retry_after_ms := greatest(1000, ceil(extract(epoch FROM (v_oldest + interval '1 minute' - now())) * 1000))::integer;
          END IF;
          RETURN;
        END IF;
      END IF;
      -- Stored first, once per MessageSid: a repeat waits on this row's unique index entry until the first
      -- commits, then finds it there and changes nothing.
      INSERT INTO inbound_messages (message_sid, from_phone, to_phone, body, classification, subscriber_id)
      VALUES (p_message_sid, p_from, p_to, left(p_body, 1600), p_kind, (SELECT x.id FROM subscribers x WHERE x.phone = p_from))
      ON CONFLICT (message_sid) DO NOTHING
      RETURNING id, inbound_messages.subscriber_id INTO v_inbound, subscriber_id;
      IF v_inbound IS NULL THEN
        outcome := 'duplicate';
        RETURN;
      END IF;
      outcome := 'applied';

      IF p_kind = 'opt_out' THEN
        IF subscriber_id IS NULL THEN
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
          UPDATE inbound_messages i SET subscriber_id = receive_inbound_sms.subscriber_id WHERE i.id = v_inbound;
        END IF;
        IF consent_kind IS NULL THEN
          SELECT * INTO o FROM opt_out_subscriber(subscriber_id, 'sms', p_now, p_message_sid, p_body);
          cancelled := o.cancelled;
          consent_kind := CASE WHEN o.changed THEN 'opt_out' END;
        END IF;
      ELSIF p_kind = 'opt_in' THEN
        IF subscriber_id IS NULL THEN
          INSERT INTO subscribers (phone, status, time_zone, confirmed_at)
          VALUES (p_from, 'active', p_default_time_zone, p_now)
          ON CONFLICT (phone) DO NOTHING
          RETURNING * INTO s;
        END IF;
        IF s.id IS NOT NULL THEN
          consent_kind := 'opt_in';
          UPDATE inbound_messages i SET subscriber_id = s.id WHERE i.id = v_inbound;
        ELSE
          SELECT * INTO s FROM subscribers x WHERE x.phone = p_from FOR NO KEY UPDATE;
          IF s.status <> 'active' THEN
            consent_kind := CASE WHEN s.status = 'pending' THEN 'confirm' ELSE 'opt_in' END;
            UPDATE subscribers SET status = 'active', confirmed_at = p_now, opted_out_at = NULL WHERE id = s.id;
          END IF;
          IF subscriber_id IS NULL THEN
            UPDATE inbound_messages i SET subscriber_id = s.id WHERE i.id = v_inbound;
          END IF;
        END IF;
        subscriber_id := s.id;
        IF consent_kind IS NOT NULL THEN
          INSERT INTO consent_events (subscriber_id, phone, kind, source, trigger_text, message_sid)
          VALUES (s.id, p_from, consent_kind, 'sms', left(p_body, 1600), p_message_sid);
        END IF;
      END IF;
    END $$;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await optOutSubscriber('FOR UPDATE').execute(db);
  await sql`
    CREATE OR REPLACE FUNCTION receive_inbound_sms(
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
  `.execute(db);
}
