// The dev-phone page (one-machine mode only, never deployed): subscribers, each conversation with live
// delivery status, texting as a subscriber through the real signed inbound route, plan today, send now.
// Plain server-rendered HTML; forms post and redirect back; a few lines of script refresh the thread.
import { Hono } from 'hono';
import { html, raw } from 'hono/html';
import type { Db } from '../db/connection.js';
import { type SimulatorOptions, textAsSubscriber } from './phone-simulator.js';

export interface DevPageActions {
  /** Adds a pending subscriber and sends the double opt-in text; returns what happened, in words. */
  addSubscriber(input: { phone: string; timeZone: string; name: string | null }): Promise<string>;
  planToday(): Promise<string>;
  sendNow(phone: string): Promise<string>;
}

export interface DevPageDeps {
  db: Db;
  simulator: SimulatorOptions;
  actions: DevPageActions;
  defaultTimeZone: string;
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

function renderThread(items: ThreadItem[]) {
  if (items.length === 0) return html`<p class="empty">No messages yet.</p>`;
  return html`${items.map(
    (m) => html`<div class="msg ${m.direction}" data-testid="msg-${m.direction}">
      <div class="body">${m.body}</div>
      <div class="meta">${m.at.toISOString().slice(11, 19)} UTC${
        m.status ? html` · <span class="status" data-testid="status">${m.status}</span>` : ''
      }</div>
    </div>`,
  )}`;
}

const STYLE = `
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2433; }
  header { background: #2f6f4e; color: #fff; padding: 12px 20px; display: flex; gap: 16px; align-items: center; }
  header h1 { font-size: 18px; margin: 0; flex: 1; }
  main { display: grid; grid-template-columns: 320px 1fr; gap: 20px; padding: 20px; }
  section { background: #fff; border-radius: 8px; padding: 16px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  ul { list-style: none; padding: 0; margin: 0 0 16px; }
  li a { display: block; padding: 8px; border-radius: 6px; text-decoration: none; color: inherit; }
  li a.selected { background: #e3efe8; }
  .badge { font-size: 12px; padding: 1px 6px; border-radius: 10px; background: #ddd; margin-left: 6px; }
  .badge.active { background: #c9ecd5; } .badge.opted_out { background: #f6d0d0; } .badge.pending { background: #fbe9c0; }
  form { display: flex; gap: 8px; flex-wrap: wrap; margin: 8px 0; }
  input { padding: 6px 8px; border: 1px solid #bbb; border-radius: 6px; }
  button { padding: 6px 12px; border: 0; border-radius: 6px; background: #2f6f4e; color: #fff; cursor: pointer; }
  header button { background: #fff; color: #2f6f4e; }
  .thread { min-height: 240px; max-height: 60vh; overflow-y: auto; display: flex; flex-direction: column; gap: 8px;
            padding: 8px; background: #eef0f3; border-radius: 8px; }
  .msg { max-width: 70%; padding: 8px 12px; border-radius: 14px; }
  .msg.out { align-self: flex-start; background: #fff; }
  .msg.in { align-self: flex-end; background: #2f6f4e; color: #fff; }
  .msg .meta { font-size: 11px; opacity: .7; margin-top: 2px; }
  .note { background: #fff7d6; border: 1px solid #eedc8b; padding: 8px 12px; border-radius: 6px; margin-bottom: 12px; }
  .empty { color: #777; }
`;

export function createDevPage(deps: DevPageDeps): Hono {
  const app = new Hono();
  const back = (phone: string | undefined, note: string) =>
    `/dev?${new URLSearchParams({ ...(phone ? { phone } : {}), note }).toString()}`;

  app.get('/dev', async (c) => {
    const selected = c.req.query('phone');
    const note = c.req.query('note');
    const subscribers = await deps.db
      .selectFrom('subscribers')
      .select(['phone', 'status', 'paused', 'time_zone', 'name'])
      .orderBy('created_at')
      .execute();
    const current = subscribers.find((s) => s.phone === selected);
    const items = current ? await thread(deps.db, current.phone) : [];
    return c.html(html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Dev phone · Daily Positivity</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${raw(STYLE)}</style></head>
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
      <br><small>${s.time_zone}</small></a></li>`,
  )}</ul>
  <h3>Add a subscriber</h3>
  <form method="post" action="/dev/subscribers" data-testid="add-form">
    <input name="phone" placeholder="+14155550123" required aria-label="phone">
    <input name="timeZone" value="${deps.defaultTimeZone}" aria-label="time zone">
    <input name="name" placeholder="first name (optional)" aria-label="name">
    <button>Add and send opt-in</button>
  </form>
</section>
<section>
  ${note ? html`<div class="note" data-testid="note">${note}</div>` : ''}
  ${
    current
      ? html`<h2>${current.name ?? current.phone} <span class="badge ${current.status}" data-testid="subscriber-status">${current.status}</span></h2>
  <div class="thread" id="thread" data-testid="thread">${renderThread(items)}</div>
  <form method="post" action="/dev/text" data-testid="text-form">
    <input type="hidden" name="phone" value="${current.phone}">
    <input name="body" placeholder="Text as this subscriber (try YES, HELP, STOP)" size="40" required aria-label="message">
    <button>Send text</button>
  </form>
  <form method="post" action="/dev/send-now"><input type="hidden" name="phone" value="${current.phone}">
    <button data-testid="send-now">Send today's message now</button></form>
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
    return c.html(renderThread(await thread(deps.db, phone)));
  });

  app.post('/dev/subscribers', async (c) => {
    const form = await c.req.parseBody();
    const phone = String(form.phone ?? '').trim();
    const timeZone = String(form.timeZone ?? '').trim() || deps.defaultTimeZone;
    const name = String(form.name ?? '').trim() || null;
    const note = await deps.actions.addSubscriber({ phone, timeZone, name });
    return c.redirect(back(phone, note), 303);
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
    return c.redirect(back(phone, await deps.actions.planToday()), 303);
  });

  app.post('/dev/send-now', async (c) => {
    const form = await c.req.parseBody();
    const phone = String(form.phone ?? '');
    return c.redirect(back(phone, await deps.actions.sendNow(phone)), 303);
  });

  return app;
}
