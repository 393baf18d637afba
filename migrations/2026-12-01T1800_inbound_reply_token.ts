// Frozen once landed: write a new migration instead of editing this one.
// An inbound text's reply is owed by the request that applied it, and is sent at most once, even when the
// commit's answer never reached that request (the connection cut after COMMIT: it retries, or keeps the
// text in the spool, and until now found its own text a duplicate and said nothing).
// 1. inbound_messages.reply_token: the token of the request that may still owe the text's reply (nullable,
//    no default, so adding it rewrites nothing). Code deployed before leaves it null: no one can claim
//    those rows' replies, as before.
// 2. A new overload receive_inbound_sms(…, p_request_token, p_kept_token). The applying INSERT stores
//    p_request_token. On a repeat, the reply is claimed when the row holds this request's token (its own
//    earlier attempt committed) or the kept token (the live request that kept the text in the spool committed
//    it): one UPDATE, which moves the token to p_request_token, so a second claim by another delivery finds
//    nothing while this request's own retry, should the claim's answer be lost too, claims again. Outcome
//    'recovered' then carries what the reply and the schedule removal need: the text's consent change
//    (from the ledger), its subscriber, and that subscriber's opt-out-cancelled deliveries whose window is
//    not over (removing a schedule twice is harmless). The applied path makes the same statements as
//    before. The old signature stays, unchanged, for code deployed before this migration.
// 3. An opt-in dated (p_now: when it was received) before the subscriber's latest opt-out request changes
//    nothing and owes no reply (outcome 'superseded', token cleared): a START kept in the spool, applied
//    after a newer STOP that came back in an earlier SQS batch, no longer subscribes them again.
// 4. For 3 to hold, opted_out_at is the latest opt-out request, not the first: opt_out_subscriber moves it
//    forward when an opt-out (SMS, API, carrier) finds the subscriber already out (one UPDATE where it
//    made one SELECT … FOR NO KEY UPDATE, on the usual path); the consent ledger keeps when consent
//    changed. It also no longer leaves a subscriber active whose START committed between its two
//    statements: having locked the row, it opts them out.
import { type Kysely, sql } from 'kysely';

/** opt_out_subscriber as migration 2026-12-01T1600_inbound_dedupe_by_row left it. */
const optOutSubscriberBefore = sql.raw(`
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
      SELECT x.id, x.phone INTO subscriber_id, v_phone FROM subscribers x WHERE x.id = p_subscriber_id FOR NO KEY UPDATE;
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

/** opt_out_subscriber with opted_out_at the latest opt-out request (4 above). Same signature and result. */
const optOutSubscriberLatest = sql.raw(`
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
    v_status text;
  BEGIN
    cancelled := '{}';
    -- The usual case in one write: the UPDATE takes the row lock and says whether the status changed.
    UPDATE subscribers x
       SET status = 'opted_out', opted_out_at = p_now, name = CASE WHEN p_erase_name THEN NULL ELSE x.name END
     WHERE x.id = p_subscriber_id AND x.status <> 'opted_out'
    RETURNING x.id, x.phone INTO subscriber_id, v_phone;
    changed := subscriber_id IS NOT NULL;
    IF NOT changed THEN
      -- Already out: a later request becomes the latest opt-out request (an opt-in received before it must
      -- not undo it; receive_inbound_sms), and the row lock is taken either way, so a concurrent START waits.
      UPDATE subscribers x
         SET opted_out_at = greatest(x.opted_out_at, p_now), name = CASE WHEN p_erase_name THEN NULL ELSE x.name END
       WHERE x.id = p_subscriber_id AND x.status = 'opted_out'
         AND (x.opted_out_at < p_now OR (p_erase_name AND x.name IS NOT NULL))
      RETURNING x.id, x.phone INTO subscriber_id, v_phone;
      IF subscriber_id IS NULL THEN
        -- Nothing to write (an older or equal request), no such row, or the row changed since the first
        -- statement: lock it and look again.
        SELECT x.id, x.phone, x.status INTO subscriber_id, v_phone, v_status
          FROM subscribers x WHERE x.id = p_subscriber_id FOR NO KEY UPDATE;
        IF subscriber_id IS NULL THEN
          RETURN;
        END IF;
        IF v_status <> 'opted_out' THEN
          -- Opted in again between our statements; the lock is ours now.
          UPDATE subscribers x
             SET status = 'opted_out', opted_out_at = p_now, name = CASE WHEN p_erase_name THEN NULL ELSE x.name END
           WHERE x.id = subscriber_id;
          changed := true;
        END IF;
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
  await optOutSubscriberLatest.execute(db);
  await sql`
    CREATE FUNCTION receive_inbound_sms(
      p_message_sid text,
      p_from text,
      p_to text,
      p_body text,
      p_kind text,
      p_default_time_zone text,
      p_now timestamptz,
      p_limit_per_minute integer,
      p_request_token uuid,
      p_kept_token uuid,
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
      v_stored boolean := false;
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
          -- Over the limit, perhaps by this very text (its commit landed, its answer was lost): a stored one
          -- is a repeat, and may still be owed its reply, below.
          v_stored := EXISTS (SELECT 1 FROM inbound_messages i WHERE i.message_sid = p_message_sid);
          IF NOT v_stored THEN
            outcome := 'limited';
            retry_after_ms := greatest(1000, ceil(extract(epoch FROM (v_oldest + interval '1 minute' - now())) * 1000))::integer;
            RETURN;
          END IF;
        END IF;
      END IF;
      IF NOT v_stored THEN
        -- Stored first, once per MessageSid: a repeat waits on this row's unique index entry until the first
        -- commits, then finds it there and changes nothing.
        INSERT INTO inbound_messages (message_sid, from_phone, to_phone, body, classification, subscriber_id, reply_token)
        VALUES (p_message_sid, p_from, p_to, left(p_body, 1600), p_kind, (SELECT x.id FROM subscribers x WHERE x.phone = p_from), p_request_token)
        ON CONFLICT (message_sid) DO NOTHING
        RETURNING id, inbound_messages.subscriber_id INTO v_inbound, subscriber_id;
      END IF;
      IF v_inbound IS NULL THEN
        -- A repeat. Ours when the stored text carries this request's token or the token of the request that
        -- kept it in the spool: that request applied it and never heard so. Claimed once: the token becomes
        -- this request's, which no other delivery of the MessageSid holds.
        UPDATE inbound_messages i SET reply_token = p_request_token
         WHERE i.message_sid = p_message_sid AND i.reply_token IN (p_request_token, p_kept_token)
        RETURNING i.id, i.subscriber_id INTO v_inbound, subscriber_id;
        IF v_inbound IS NULL THEN
          outcome := 'duplicate';
          RETURN;
        END IF;
        outcome := 'recovered';
        SELECT c.kind INTO consent_kind FROM consent_events c
         WHERE c.phone = p_from AND c.message_sid = p_message_sid ORDER BY c.id DESC LIMIT 1;
        IF p_kind = 'opt_out' THEN
          -- Their schedules may still be there: the request that cancelled them never got to remove them.
          SELECT coalesce(array_agg(d.id::text), '{}') INTO cancelled FROM deliveries d
           WHERE d.subscriber_id = receive_inbound_sms.subscriber_id AND d.state = 'cancelled'
             AND d.reason = 'opted_out' AND d.window_end > now();
        END IF;
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
          IF s.status = 'opted_out' AND s.opted_out_at > p_now THEN
            -- Received before their latest opt-out request (kept in the spool and applied after it): their
            -- later word stands. Stored, no consent change, and no reply owed.
            outcome := 'superseded';
            subscriber_id := s.id;
            UPDATE inbound_messages i SET reply_token = NULL, subscriber_id = s.id WHERE i.id = v_inbound;
            RETURN;
          END IF;
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
  // Last, so the table's ACCESS EXCLUSIVE lock is held only for the rest of this transaction's commit.
  await sql`ALTER TABLE inbound_messages ADD COLUMN reply_token uuid`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP FUNCTION receive_inbound_sms(text, text, text, text, text, text, timestamptz, integer, uuid, uuid)
  `.execute(db);
  await optOutSubscriberBefore.execute(db);
  await sql`ALTER TABLE inbound_messages DROP COLUMN reply_token`.execute(db);
}
