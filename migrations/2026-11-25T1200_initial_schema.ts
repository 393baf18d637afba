// Frozen once landed: write a new migration instead of editing this one.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN NEW.updated_at := now(); RETURN NEW; END $$;

    CREATE FUNCTION forbid_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$;

    CREATE TABLE subscribers (
      id            integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      phone         text NOT NULL UNIQUE CHECK (phone ~ '^\\+[1-9][0-9]{6,14}$'),
      status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active', 'opted_out')),
      paused        boolean NOT NULL DEFAULT false,
      time_zone     text NOT NULL CHECK (time_zone <> ''),
      name          text CHECK (char_length(name) BETWEEN 1 AND 50),
      confirmed_at  timestamptz,
      opted_out_at  timestamptz,
      last_quota_skip_date date,
      created_at    timestamptz NOT NULL DEFAULT now(),
      updated_at    timestamptz NOT NULL DEFAULT now(),
      CHECK (status <> 'opted_out' OR opted_out_at IS NOT NULL)
    );
    CREATE INDEX subscribers_active_idx ON subscribers (id) WHERE status = 'active' AND NOT paused;
    CREATE TRIGGER subscribers_updated_at BEFORE UPDATE ON subscribers
      FOR EACH ROW EXECUTE FUNCTION set_updated_at();

    CREATE TABLE consent_events (
      id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      subscriber_id integer REFERENCES subscribers (id) ON DELETE RESTRICT,
      phone         text NOT NULL CHECK (phone ~ '^\\+[1-9][0-9]{6,14}$'),
      kind          text NOT NULL CHECK (kind IN ('opt_in', 'opt_out', 'confirm')),
      source        text NOT NULL CHECK (source IN ('sms', 'api', 'carrier', 'operator')),
      trigger_text  text CHECK (char_length(trigger_text) <= 1600),
      message_sid   text,
      created_at    timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX consent_events_phone_idx ON consent_events (phone, created_at);
    CREATE INDEX consent_events_created_idx ON consent_events (created_at);
    CREATE TRIGGER consent_events_append_only BEFORE UPDATE ON consent_events
      FOR EACH ROW EXECUTE FUNCTION forbid_update();

    CREATE TABLE deliveries (
      id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      subscriber_id   integer NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
      local_date      date NOT NULL,
      time_zone       text NOT NULL,
      window_start    timestamptz NOT NULL,
      window_end      timestamptz NOT NULL,
      planned_at      timestamptz,
      state           text NOT NULL DEFAULT 'planned'
                      CHECK (state IN ('planned', 'sending', 'sent', 'skipped', 'failed', 'cancelled', 'unknown')),
      reason          text CHECK (char_length(reason) <= 200),
      schedule_name   text,
      scheduled_at    timestamptz,
      schedule_error  text,
      claimed_at      timestamptz,
      sent_at         timestamptz,
      message_sid     text UNIQUE,
      delivery_status text,
      error_code      integer,
      body            text CHECK (char_length(body) <= 1600),
      segments        smallint CHECK (segments >= 1),
      model           text,
      fallback        boolean,
      tokens_in       integer CHECK (tokens_in >= 0),
      tokens_out      integer CHECK (tokens_out >= 0),
      cost_usd        numeric(12, 6) CHECK (cost_usd >= 0),
      created_at      timestamptz NOT NULL DEFAULT now(),
      updated_at      timestamptz NOT NULL DEFAULT now(),
      UNIQUE (subscriber_id, local_date),
      CHECK (window_start < window_end),
      CHECK (planned_at IS NULL OR (planned_at >= window_start AND planned_at < window_end)),
      CHECK (state <> 'planned' OR planned_at IS NOT NULL),
      CHECK (state NOT IN ('skipped', 'failed', 'cancelled') OR reason IS NOT NULL),
      CHECK (state <> 'sent' OR message_sid IS NOT NULL),
      CHECK (state NOT IN ('sending', 'unknown') OR claimed_at IS NOT NULL)
    );
    CREATE INDEX deliveries_planned_idx ON deliveries (planned_at) WHERE state = 'planned';
    CREATE INDEX deliveries_unscheduled_idx ON deliveries (planned_at)
      WHERE state = 'planned' AND scheduled_at IS NULL;
    CREATE INDEX deliveries_open_idx ON deliveries (claimed_at) WHERE state IN ('sending', 'unknown', 'sent');
    CREATE INDEX deliveries_subscriber_recent_idx ON deliveries (subscriber_id, local_date DESC);
    CREATE INDEX deliveries_created_idx ON deliveries (created_at);
    CREATE TRIGGER deliveries_updated_at BEFORE UPDATE ON deliveries
      FOR EACH ROW EXECUTE FUNCTION set_updated_at();

    CREATE TABLE delivery_status_events (
      id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      message_sid   text NOT NULL,
      status        text NOT NULL CHECK (status ~ '^[a-z_]{2,30}$'),
      error_code    integer,
      received_at   timestamptz NOT NULL DEFAULT now(),
      UNIQUE (message_sid, status)
    );
    CREATE INDEX delivery_status_events_received_idx ON delivery_status_events (received_at);

    CREATE TABLE inbound_messages (
      id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      message_sid     text NOT NULL UNIQUE,
      from_phone      text NOT NULL,
      to_phone        text,
      body            text CHECK (char_length(body) <= 1600),
      classification  text NOT NULL CHECK (classification IN ('opt_out', 'opt_in', 'help', 'other')),
      subscriber_id   integer REFERENCES subscribers (id) ON DELETE SET NULL,
      received_at     timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX inbound_messages_from_idx ON inbound_messages (from_phone, received_at);
    CREATE INDEX inbound_messages_received_idx ON inbound_messages (received_at);

    CREATE TABLE usage_daily (
      day                 date PRIMARY KEY,
      openai_requests     integer NOT NULL DEFAULT 0 CHECK (openai_requests >= 0),
      openai_tokens_in    bigint NOT NULL DEFAULT 0 CHECK (openai_tokens_in >= 0),
      openai_tokens_out   bigint NOT NULL DEFAULT 0 CHECK (openai_tokens_out >= 0),
      fallbacks           integer NOT NULL DEFAULT 0 CHECK (fallbacks >= 0),
      sms_sent            integer NOT NULL DEFAULT 0 CHECK (sms_sent >= 0),
      sms_segments        integer NOT NULL DEFAULT 0 CHECK (sms_segments >= 0),
      estimated_cost_usd  numeric(14, 6) NOT NULL DEFAULT 0 CHECK (estimated_cost_usd >= 0),
      updated_at          timestamptz NOT NULL DEFAULT now()
    );
    CREATE TRIGGER usage_daily_updated_at BEFORE UPDATE ON usage_daily
      FOR EACH ROW EXECUTE FUNCTION set_updated_at();
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP TABLE usage_daily;
    DROP TABLE inbound_messages;
    DROP TABLE delivery_status_events;
    DROP TABLE deliveries;
    DROP TABLE consent_events;
    DROP TABLE subscribers;
    DROP FUNCTION forbid_update();
    DROP FUNCTION set_updated_at();
  `.execute(db);
}
