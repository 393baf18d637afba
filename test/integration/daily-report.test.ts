// The daily report counts one UTC day from deliveries, consent_events and usage_daily.
import { expect, it } from 'vitest';
import type { DeliveryState } from '../../src/domain/delivery.js';
import { createLogger } from '../../src/logger.js';
import {
  buildDailyReport,
  InvalidReportDay,
  previousUtcDay,
  utcDayRange,
} from '../../src/services/daily-report.js';
import { captureStdout } from '../support/capture-stdout.js';
import { setMessageStatus, useTestDb } from '../support/db.js';

const { db } = useTestDb();
const lines = captureStdout();

interface Row {
  at: string;
  state: DeliveryState;
  status?: string;
  reason?: string;
  sent?: boolean;
  replaced?: string[];
  fallback?: boolean;
}

async function subscriber(phone: string) {
  return (
    await db()
      .insertInto('subscribers')
      .values({ phone, time_zone: 'UTC', status: 'active' })
      .returning('id')
      .executeTakeFirstOrThrow()
  ).id;
}

async function delivery(i: number, row: Row) {
  const id = await subscriber(`+1415555${String(1000 + i)}`);
  const at = new Date(row.at);
  await db()
    .insertInto('deliveries')
    .values({
      subscriber_id: id,
      local_date: row.at.slice(0, 10),
      time_zone: 'UTC',
      window_start: at,
      window_end: new Date(at.getTime() + 3_600_000),
      planned_at: at,
      state: row.state,
      reason: row.reason ?? null,
      claimed_at: at,
      sent_at: row.sent ? at : null,
      message_sid: row.sent ? `SM${i}` : null,
      replacement_reasons: row.replaced ?? (row.sent ? [] : null),
      fallback: row.sent ? (row.fallback ?? false) : null,
    })
    .execute();
  if (row.sent && row.status) await setMessageStatus(db(), `SM${i}`, row.status);
}

it('reports sends, outcomes, skips, consent and cost for one UTC day, and logs one line', async () => {
  const rows: Row[] = [
    {
      at: '2026-11-24T17:00:00Z',
      state: 'sent',
      sent: true,
      status: 'delivered',
      replaced: ['guard:alcohol'],
    },
    {
      at: '2026-11-24T18:00:00Z',
      state: 'sent',
      sent: true,
      status: 'delivered',
      replaced: ['moderation_flagged', 'guard:alcohol'],
      fallback: true,
    },
    { at: '2026-11-24T19:00:00Z', state: 'sent', sent: true, status: 'delivered' },
    { at: '2026-11-24T20:00:00Z', state: 'sent', sent: true, status: 'undelivered' },
    { at: '2026-11-24T21:00:00Z', state: 'sent', sent: true, status: 'sent' },
    { at: '2026-11-24T23:59:59Z', state: 'sent', sent: true, status: 'failed' },
    { at: '2026-11-24T16:00:00Z', state: 'failed', reason: 'twilio 21610' },
    { at: '2026-11-24T16:00:00Z', state: 'skipped', reason: 'cost_cap' },
    { at: '2026-11-24T16:30:00Z', state: 'skipped', reason: 'cost_cap' },
    { at: '2026-11-24T16:30:00Z', state: 'skipped', reason: 'quota' },
    // Other days: not counted.
    { at: '2026-11-25T00:00:00Z', state: 'sent', sent: true, status: 'delivered', replaced: ['guard:link'] },
    { at: '2026-11-23T23:59:59Z', state: 'skipped', reason: 'quota' },
  ];
  for (const [i, row] of rows.entries()) await delivery(i, row);
  const someone = await subscriber('+14155559999');
  for (const [kind, at] of [
    ['opt_out', '2026-11-24T10:00:00Z'],
    ['opt_out', '2026-11-24T11:00:00Z'],
    ['opt_in', '2026-11-24T12:00:00Z'],
    ['confirm', '2026-11-24T12:01:00Z'],
    ['opt_out', '2026-11-25T00:00:01Z'],
  ] as const)
    await db()
      .insertInto('consent_events')
      .values({ subscriber_id: someone, phone: '+14155559999', kind, source: 'sms', created_at: at })
      .execute();
  await db()
    .insertInto('usage_daily')
    .values({
      day: '2026-11-24',
      openai_requests: 6,
      openai_tokens_in: 720,
      openai_tokens_out: 360,
      fallbacks: 1,
      sms_sent: 6,
      sms_segments: 7,
      estimated_cost_usd: 0.058424,
    })
    .execute();

  const report = await buildDailyReport({ db: db(), logger: createLogger({ level: 'INFO' }) }, '2026-11-24');

  expect(report).toEqual({
    day: '2026-11-24',
    sent: 6,
    delivered: 3,
    undelivered: 1,
    failed: 1,
    awaitingStatus: 1,
    sendErrors: 1,
    deliveryRate: 0.6,
    skipped: { cost_cap: 2, quota: 1 },
    skippedTotal: 3,
    optOuts: 2,
    optIns: 2,
    confirmations: 1,
    optInRequests: 0,
    openaiRequests: 6,
    openaiTokensIn: 720,
    openaiTokensOut: 360,
    fallbacks: 1,
    replacedDrafts: { 'guard:alcohol': 2, moderation_flagged: 1 },
    curatedReplacements: 1,
    smsSegments: 7,
    estimatedCostUSD: 0.058424,
  });
  const logged = lines.map((l) => JSON.parse(l)).find((l) => String(l.message).startsWith('daily report'));
  expect(logged?.message).toBe(
    'daily report 2026-11-24: 6 sent, 3 delivered (60.0%), 1 undelivered, 1 failed, 1 awaiting status, ' +
      '1 send errors; 3 skipped (cost_cap=2 quota=1); 2 opt-outs, 2 opt-ins (1 confirming a request), ' +
      '0 opt-in requests; 6 OpenAI requests, 1080 tokens, ' +
      '1 fallbacks, 7 segments; 3 drafts replaced (guard:alcohol=2 moderation_flagged=1), ' +
      '1 sent curated instead; est. cost $0.0584',
  );
  expect(lines.join('')).not.toContain('4155551000');
});

it('counts opt-in requests apart from opt-ins: an opt-in is a confirmation', async () => {
  // Prepare: 4 sign-ups (API, CLI or dev page: pending until YES), 2 START and 2 YES by SMS.
  const someone = await subscriber('+14155559999');
  const at = '2026-11-24T12:00:00Z';
  for (const [kind, source] of [
    ['opt_in', 'api'],
    ['opt_in', 'api'],
    ['opt_in', 'api'],
    ['opt_in', 'operator'],
    ['opt_in', 'sms'],
    ['opt_in', 'sms'],
    ['confirm', 'sms'],
    ['confirm', 'sms'],
  ] as const)
    await db()
      .insertInto('consent_events')
      .values({ subscriber_id: someone, phone: '+14155559999', kind, source, created_at: at })
      .execute();

  // Act
  const report = await buildDailyReport(
    { db: db(), logger: createLogger({ level: 'SILENT' }) },
    '2026-11-24',
  );

  // Assess: 4 numbers became subscribers (2 START, 2 YES); 4 were asked.
  expect(report).toMatchObject({ optIns: 4, confirmations: 2, optInRequests: 4 });
});

it('an empty day reports zeros and no delivery rate', async () => {
  const report = await buildDailyReport(
    { db: db(), logger: createLogger({ level: 'SILENT' }) },
    '2026-01-01',
  );
  expect(report).toMatchObject({ sent: 0, deliveryRate: null, skippedTotal: 0, estimatedCostUSD: 0 });
});

it.each(['2026-02-30', '26-11-24', 'yesterday', ''])('rejects the day %j', (day) => {
  expect(() => utcDayRange(day)).toThrow(InvalidReportDay);
});

it('previousUtcDay is the UTC calendar day before now', () => {
  expect(previousUtcDay(new Date('2026-11-25T00:30:00Z'))).toBe('2026-11-24');
});

it('counts a message awaiting its status only until Twilio reports any final one, partially_delivered too', async () => {
  const statuses = ['sent', 'queued', 'partially_delivered', 'canceled', 'read'];
  for (const [i, status] of statuses.entries())
    await delivery(i, { at: '2026-11-24T17:00:00Z', state: 'sent', sent: true, status });

  const report = await buildDailyReport({ db: db(), logger: createLogger({ level: 'INFO' }) }, '2026-11-24');

  expect(report).toMatchObject({ sent: 5, awaitingStatus: 2 });
});
