// The dev-phone page (one-machine mode only, never deployed): subscribers, each conversation with live
// delivery status, texting as a subscriber through the real signed inbound route, plan today, send now,
// change a time zone. Plain server-rendered HTML; forms post and redirect back; a few lines of script
// refresh the thread. Input is checked by the API's own rules (domain/subscriber-fields.ts).
import { Hono } from 'hono';
import { html, raw } from 'hono/html';
import * as z from 'zod';
import type { Db } from '../db/connection.js';
import type { E164 } from '../domain/phone.js';
import {
  InvalidSubscriberInput,
  NAME_MAX_LENGTH,
  NameField,
  PHONE_INPUT_MAX_LENGTH,
  PhoneField,
  parseSubscriberInput,
  TIME_ZONE_MAX_LENGTH,
  TimeZoneField,
} from '../domain/subscriber-fields.js';
import { isValidTimeZone, type TimeZone } from '../domain/time-zone.js';
import { logger } from '../logger.js';
import type { PlanSummary } from '../services/plan-day.js';
import { SmsError } from '../services/ports.js';
import { SendNowRefused } from '../services/send-now.js';
import {
  type NewSubscriberInput,
  SignUpIncomplete,
  SubscriberConflict,
  SubscriberNotFound,
} from '../services/subscribers.js';
import { describePlan, explainNothingPlanned } from './describe.js';
import { localOnly } from './local-only.js';
import { type SimulatorOptions, textAsSubscriber } from './phone-simulator.js';

interface DevPageActions {
  /** Adds a pending subscriber and sends the double opt-in text. */
  addSubscriber(input: NewSubscriberInput): Promise<unknown>;
  setTimeZone(phone: E164, timeZone: TimeZone): Promise<unknown>;
  planToday(): Promise<PlanSummary>;
  /** Sends today's message now; returns what happened, in words. */
  sendNow(phone: E164): Promise<string>;
}

export interface DevPageDeps {
  db: Db;
  simulator: SimulatorOptions;
  actions: DevPageActions;
  defaultTimeZone: string;
  /** How far ahead the planner looks (PLANNER_HORIZON_HOURS), to explain a run that planned nothing. */
  plannerHorizonHours: number;
  /** The port the server listens on: the page answers only http://localhost:<port> (src/local/local-only.ts). */
  port: number;
}

const AddForm = z.object({ phone: PhoneField, timeZone: TimeZoneField, name: NameField.nullable() });
const ZoneForm = z.object({ phone: PhoneField, timeZone: TimeZoneField });

/** Words for a refusal the person can act on; anything else is logged and summarised. */
function reasonOf(error: unknown): string {
  if (
    error instanceof InvalidSubscriberInput ||
    error instanceof SubscriberConflict ||
    error instanceof SubscriberNotFound ||
    error instanceof SendNowRefused ||
    error instanceof SignUpIncomplete
  )
    return error.message;
  if (error instanceof SmsError) return `the text could not be sent (${error.message})`;
  logger.error('dev page action failed', { error });
  return 'it failed unexpectedly (the server log has the details)';
}

interface ThreadItem {
  at: Date;
  direction: 'in' | 'out';
  body: string;
  status: string | null;
}

async function thread(db: Db, phone: string): Promise<ThreadItem[]> {
  const [outgoing, incoming] = await Promise.all([
    db
      .selectFrom('outbox_messages')
      .select(['created_at', 'body', 'status'])
      .where('to_phone', '=', phone)
      .orderBy('created_at')
      .execute(),
    db
      .selectFrom('inbound_messages')
      .select(['received_at', 'body', 'classification'])
      .where('from_phone', '=', phone)
      .orderBy('received_at')
      .execute(),
  ]);
  return [
    ...outgoing.map((m) => ({ at: m.created_at, direction: 'out' as const, body: m.body, status: m.status })),
    ...incoming.map((m) => ({
      at: m.received_at,
      direction: 'in' as const,
      body: m.body ?? '(text removed after the retention period)',
      status: m.classification,
    })),
  ].sort((a, b) => a.at.getTime() - b.at.getTime());
}

/** "14:05" in the zone, or null when the stored zone is not a valid one. */
function clock(at: Date, timeZone: string, seconds = false): string | null {
  if (!isValidTimeZone(timeZone)) return null;
  return new Intl.DateTimeFormat('en-GB', {
    timeZone,
    hour: '2-digit',
    minute: '2-digit',
    ...(seconds ? { second: '2-digit' } : {}),
    hourCycle: 'h23',
  }).format(at);
}

function renderThread(items: ThreadItem[], timeZone: string) {
  if (items.length === 0) return html`<p class="empty">No messages yet.</p>`;
  return html`${items.map((m) => {
    const local = timeZone === 'UTC' ? null : clock(m.at, timeZone);
    return html`<div class="msg ${m.direction}" data-testid="msg-${m.direction}">
      <div class="body">${m.body}</div>
      <div class="meta">${local ? `${local} ${timeZone} · ` : ''}${clock(m.at, 'UTC', true)} UTC${
        m.status ? html` · <span class="status" data-testid="status">${m.status}</span>` : ''
      }</div>
    </div>`;
  })}`;
}

/** The subscriber's next planned delivery, or else their latest one, in words. */
async function deliveryLine(db: Db, subscriberId: number, timeZone: string, now: Date): Promise<string> {
  const next = await db
    .selectFrom('deliveries')
    .select(['local_date', 'planned_at'])
    .where('subscriber_id', '=', subscriberId)
    .where('state', '=', 'planned')
    .orderBy('planned_at')
    .executeTakeFirst();
  if (next?.planned_at) {
    const at = new Date(next.planned_at);
    const local = clock(at, timeZone);
    const overdue = at < now ? ' — due, sending shortly' : '';
    return `Next delivery: ${next.local_date} ${local ? `${local} ${timeZone} (${clock(at, 'UTC')} UTC)` : `${clock(at, 'UTC')} UTC`}${overdue}`;
  }
  const last = await db
    .selectFrom('deliveries')
    .select(['local_date', 'state', 'reason', 'sent_at'])
    .where('subscriber_id', '=', subscriberId)
    .orderBy('local_date', 'desc')
    .executeTakeFirst();
  if (!last) return 'Next delivery: none planned yet ("Plan today" plans the next afternoon window).';
  const sentAt = last.sent_at
    ? ` at ${clock(new Date(last.sent_at), timeZone) ?? clock(new Date(last.sent_at), 'UTC')}`
    : '';
  return (
    `Next delivery: none planned. Latest: ${last.local_date} ${last.state}${last.reason ? ` (${last.reason})` : ''}` +
    `${sentAt}; the planner plans the next day's window once it is within its horizon.`
  );
}

async function plannableCounts(db: Db) {
  const rows = await db
    .selectFrom('subscribers')
    .select(['status', 'paused', (eb) => eb.fn.countAll<string>().as('n')])
    .groupBy(['status', 'paused'])
    .execute();
  const n = (match: (r: (typeof rows)[number]) => boolean) =>
    rows.filter(match).reduce((sum, r) => sum + Number(r.n), 0);
  return {
    active: n((r) => r.status === 'active' && !r.paused),
    paused: n((r) => r.status === 'active' && r.paused),
    pending: n((r) => r.status === 'pending'),
  };
}

const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#2f6f4e"/><path d="M8 10h16v10H14l-5 4v-4H8z" fill="#fff"/></svg>`;

const STYLE = `
  *, *::before, *::after { box-sizing: border-box; }
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2433; }
  header { background: #2f6f4e; color: #fff; padding: 12px 20px; display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; }
  header h1 { font-size: 18px; margin: 0; flex: 1 1 14em; }
  main { display: grid; grid-template-columns: minmax(0, 320px) minmax(0, 1fr); gap: 20px; padding: 20px; }
  section { background: #fff; border-radius: 8px; padding: 16px; box-shadow: 0 1px 2px rgba(0,0,0,.08); min-width: 0; }
  ul { list-style: none; padding: 0; margin: 0 0 16px; }
  li a { display: block; padding: 8px; border-radius: 6px; text-decoration: none; color: inherit; overflow-wrap: anywhere; }
  li a.selected { background: #e3efe8; }
  .badge { font-size: 12px; padding: 1px 6px; border-radius: 10px; background: #ddd; margin-left: 6px; }
  .badge.active { background: #c9ecd5; } .badge.opted_out { background: #f6d0d0; } .badge.pending { background: #fbe9c0; }
  form { display: flex; gap: 8px; flex-wrap: wrap; margin: 8px 0; }
  input { padding: 6px 8px; border: 1px solid #bbb; border-radius: 6px; min-width: 0; flex: 1 1 10em; }
  button { padding: 6px 12px; border: 0; border-radius: 6px; background: #2f6f4e; color: #fff; cursor: pointer; }
  header button { background: #fff; color: #2f6f4e; }
  .thread { min-height: 240px; max-height: 60vh; overflow-y: auto; display: flex; flex-direction: column; gap: 8px;
            padding: 8px; background: #eef0f3; border-radius: 8px; }
  .msg { max-width: 85%; padding: 8px 12px; border-radius: 14px; overflow-wrap: anywhere; }
  .msg.out { align-self: flex-start; background: #fff; }
  .msg.in { align-self: flex-end; background: #2f6f4e; color: #fff; }
  .msg .meta { font-size: 11px; opacity: .7; margin-top: 2px; }
  .note { background: #fff7d6; border: 1px solid #eedc8b; padding: 8px 12px; border-radius: 6px; margin-bottom: 12px; overflow-wrap: anywhere; }
  .warn { color: #8a1c1c; }
  .empty { color: #777; }
  @media (max-width: 720px) {
    header { padding: 10px 12px; }
    main { grid-template-columns: minmax(0, 1fr); gap: 12px; padding: 12px; }
  }
`;

interface AddFormValues {
  phone: string;
  timeZone: string;
  name: string;
}

export function createDevPage(deps: DevPageDeps): Hono {
  const app = new Hono();
  const back = (phone: string | undefined, note: string, add?: AddFormValues) =>
    `/dev?${new URLSearchParams({
      ...(phone ? { phone } : {}),
      note,
      ...(add ? { newPhone: add.phone, newTimeZone: add.timeZone, newName: add.name } : {}),
    }).toString()}`;

  // Everything mounted here is for this machine's browser only; the webhooks and the API are not (they are
  // signed or need a token, and behind a tunnel their Host is the tunnel's).
  const guard = localOnly(deps.port);
  for (const path of ['/', '/favicon.ico', '/favicon.svg', '/dev/*']) app.use(path, guard);

  app.get('/', (c) => c.redirect('/dev'));
  app.get('/favicon.ico', (c) => c.body(FAVICON, 200, { 'content-type': 'image/svg+xml' }));
  app.get('/favicon.svg', (c) => c.body(FAVICON, 200, { 'content-type': 'image/svg+xml' }));

  app.get('/dev', async (c) => {
    const selected = c.req.query('phone');
    const note = c.req.query('note');
    const add = {
      phone: c.req.query('newPhone') ?? '',
      timeZone: c.req.query('newTimeZone') ?? deps.defaultTimeZone,
      name: c.req.query('newName') ?? '',
    };
    const subscribers = await deps.db
      .selectFrom('subscribers')
      .select(['id', 'phone', 'status', 'paused', 'time_zone', 'name'])
      .orderBy('created_at')
      .execute();
    const current = subscribers.find((s) => s.phone === selected);
    const items = current ? await thread(deps.db, current.phone) : [];
    const next = !current
      ? ''
      : current.status === 'pending'
        ? 'Next delivery: none until they text YES.'
        : current.status === 'opted_out'
          ? 'Next delivery: none (opted out).'
          : current.paused
            ? 'Next delivery: none while paused.'
            : await deliveryLine(deps.db, current.id, current.time_zone, new Date());
    const zoneValid = current ? isValidTimeZone(current.time_zone) : true;
    return c.html(html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Dev phone · Daily Positivity</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/favicon.svg" type="image/svg+xml"><style>${raw(STYLE)}</style></head>
<body>
<header><h1>Daily Positivity · dev phone <small>(one-machine mode only)</small></h1>
  <form method="post" action="/dev/plan"><input type="hidden" name="phone" value="${selected ?? ''}">
  <button data-testid="plan-today">Plan today</button></form></header>
<main>
<section>
  <h2>Subscribers</h2>
  <ul data-testid="subscribers">${subscribers.map(
    (
      s,
    ) => html`<li><a href="/dev?phone=${encodeURIComponent(s.phone)}" class="${s.phone === selected ? 'selected' : ''}">
      ${s.name ? `${s.name} · ` : ''}${s.phone}<span class="badge ${s.status}">${s.status}${s.paused ? ' (paused)' : ''}</span>
      <br><small class="${isValidTimeZone(s.time_zone) ? '' : 'warn'}">${s.time_zone}</small></a></li>`,
  )}</ul>
  <h3>Add a subscriber</h3>
  <form method="post" action="/dev/subscribers" data-testid="add-form">
    <input name="phone" placeholder="+14155550123" required maxlength="${PHONE_INPUT_MAX_LENGTH}" aria-label="phone" value="${add.phone}">
    <input name="timeZone" maxlength="${TIME_ZONE_MAX_LENGTH}" aria-label="time zone" value="${add.timeZone}">
    <input name="name" placeholder="first name (optional)" maxlength="${NAME_MAX_LENGTH}" aria-label="name" value="${add.name}">
    <button>Add and send opt-in</button>
  </form>
</section>
<section>
  ${note ? html`<div class="note" data-testid="note">${note}</div>` : ''}
  ${
    current
      ? html`<h2>${current.name ?? current.phone} <span class="badge ${current.status}" data-testid="subscriber-status">${current.status}</span></h2>
  ${
    zoneValid
      ? ''
      : html`<p class="warn" data-testid="zone-warning">"${current.time_zone}" is not a valid time zone: this subscriber can never get a message. Change it below.</p>`
  }
  <p data-testid="next-delivery">${next}</p>
  <div class="thread" id="thread" data-testid="thread">${renderThread(items, current.time_zone)}</div>
  <form method="post" action="/dev/text" data-testid="text-form">
    <input type="hidden" name="phone" value="${current.phone}">
    <input name="body" placeholder="Text as this subscriber (try YES, HELP, STOP)" required maxlength="1600" aria-label="message">
    <button>Send text</button>
  </form>
  <form method="post" action="/dev/send-now"><input type="hidden" name="phone" value="${current.phone}">
    <button data-testid="send-now">Send today's message now</button></form>
  <form method="post" action="/dev/timezone" data-testid="zone-form">
    <input type="hidden" name="phone" value="${current.phone}">
    <input name="timeZone" value="${current.time_zone}" required maxlength="${TIME_ZONE_MAX_LENGTH}" aria-label="change time zone">
    <button>Change time zone</button>
  </form>
  <script>
    const thread = document.getElementById('thread');
    thread.scrollTop = thread.scrollHeight;
    setInterval(async () => {
      const r = await fetch('/dev/thread?phone=' + encodeURIComponent(${raw(JSON.stringify(current.phone))}));
      if (!r.ok) return;
      const atBottom = thread.scrollTop + thread.clientHeight >= thread.scrollHeight - 4;
      thread.innerHTML = await r.text();
      if (atBottom) thread.scrollTop = thread.scrollHeight;
    }, 1000);
  </script>`
      : html`<p>Pick a subscriber, or add one (use your own invented number such as +14155550123).</p>`
  }
</section>
</main></body></html>`);
  });

  app.get('/dev/thread', async (c) => {
    const phone = c.req.query('phone') ?? '';
    const subscriber = await deps.db
      .selectFrom('subscribers')
      .select('time_zone')
      .where('phone', '=', phone)
      .executeTakeFirst();
    return c.html(renderThread(await thread(deps.db, phone), subscriber?.time_zone ?? 'UTC'));
  });

  app.post('/dev/subscribers', async (c) => {
    const form = await c.req.parseBody();
    const typed = {
      phone: String(form.phone ?? '').trim(),
      timeZone: String(form.timeZone ?? '').trim(),
      name: String(form.name ?? '').trim(),
    };
    try {
      const input = parseSubscriberInput(AddForm, {
        phone: typed.phone,
        timeZone: typed.timeZone || deps.defaultTimeZone,
        name: typed.name || null,
      });
      await deps.actions.addSubscriber(input);
      const note = `Added ${input.phone} (pending); the opt-in request was texted. Reply YES to confirm.`;
      return c.redirect(back(input.phone, note), 303);
    } catch (error) {
      // The form comes back as typed, with the reason.
      return c.redirect(back(undefined, `Not added: ${reasonOf(error)}`, typed), 303);
    }
  });

  app.post('/dev/timezone', async (c) => {
    const form = await c.req.parseBody();
    const phone = String(form.phone ?? '');
    try {
      const input = parseSubscriberInput(ZoneForm, { phone, timeZone: String(form.timeZone ?? '') });
      await deps.actions.setTimeZone(input.phone, input.timeZone);
      return c.redirect(back(phone, `Time zone changed to ${input.timeZone}.`), 303);
    } catch (error) {
      return c.redirect(back(phone, `Not changed: ${reasonOf(error)}`), 303);
    }
  });

  app.post('/dev/text', async (c) => {
    const form = await c.req.parseBody();
    const phone = String(form.phone ?? '');
    const body = String(form.body ?? '');
    const result = await textAsSubscriber(deps.simulator, phone, body);
    const note =
      result.status >= 400
        ? `The inbound route answered ${result.status}.`
        : result.reply
          ? `Texted "${body}"; the service replied.`
          : `Texted "${body}" (no reply).`;
    return c.redirect(back(phone, note), 303);
  });

  app.post('/dev/plan', async (c) => {
    const form = await c.req.parseBody();
    const phone = form.phone ? String(form.phone) : undefined;
    let note: string;
    try {
      const summary = await deps.actions.planToday();
      note = describePlan(summary);
      if (summary.planned === 0 && Object.keys(summary.skipped).length === 0)
        note += ` ${explainNothingPlanned(await plannableCounts(deps.db), deps.plannerHorizonHours)}`;
    } catch (error) {
      note = `Planning failed: ${reasonOf(error)}`;
    }
    return c.redirect(back(phone, note), 303);
  });

  app.post('/dev/send-now', async (c) => {
    const form = await c.req.parseBody();
    const phone = String(form.phone ?? '');
    let note: string;
    try {
      note = await deps.actions.sendNow(
        parseSubscriberInput(z.object({ phone: PhoneField }), { phone }).phone,
      );
    } catch (error) {
      note = `Not sent: ${reasonOf(error)}`;
    }
    return c.redirect(back(phone, note), 303);
  });

  return app;
}
