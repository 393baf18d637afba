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
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
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
  await sql`ALTER TABLE inbound_messages DROP COLUMN reply_token`.execute(db);
}
