// The quota scenario of issue #16 (not a test): 240 subscribers in 24 zones, TWILIO_MESSAGES_PER_DAY 180,
// 8 daily planner runs (the real planDay, an instant scheduler) on a scratch database. Prints, per zone,
// how often its subscribers were skipped and the share of their sends in each local hour, then the planned
// count per local date and per UTC day.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx scripts/measure-fairness.ts \
//     [--runs 8] [--at 10:00] [--quota 180] [--per-zone 10]
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DateTime } from 'luxon';
import pg from 'pg';
import { createPool, dbOnPool } from '../src/db/connection.js';
import { migrateToLatest } from '../src/db/migrator.js';
import type { PlannerSettings } from '../src/services/plan-day.js';
import {
  addSubscribersInZones,
  isRotationSkip,
  type SimulatedDelivery,
  simulateDailyRuns,
} from '../test/support/planner-simulation.js';

/** 24 zones: the six named in the issue, half-hour and 45-minute offsets, and the big populations. */
export const FAIRNESS_ZONES = [
  'Pacific/Pago_Pago',
  'Pacific/Honolulu',
  'America/Anchorage',
  'America/Los_Angeles',
  'America/Denver',
  'America/Chicago',
  'America/New_York',
  'America/St_Johns',
  'America/Sao_Paulo',
  'Europe/London',
  'Europe/Berlin',
  'Africa/Nairobi',
  'Asia/Dubai',
  'Asia/Kolkata',
  'Asia/Kathmandu',
  'Asia/Shanghai',
  'Australia/Eucla',
  'Asia/Tokyo',
  'Australia/Sydney',
  'Pacific/Noumea',
  'Pacific/Tarawa',
  'Pacific/Auckland',
  'Pacific/Chatham',
  'Pacific/Kiritimati',
] as const;

export interface ZoneFairness {
  zone: string;
  subscribers: number;
  planned: number;
  skipped: number;
  /** Share of planned sends (whole windows) in each local hour of the window, in %. */
  hourShares: number[];
}

export interface FairnessScenario {
  zones: ZoneFairness[];
  plannedPerLocalDate: Record<string, number>;
  plannedPerUtcDay: Record<string, number>;
  /** Skips per subscriber: fewest and most. */
  skipsPerSubscriber: { min: number; max: number };
}

export function summarize(deliveries: SimulatedDelivery[], zones: readonly string[]): FairnessScenario {
  const byZone = new Map<string, ZoneFairness>(
    zones.map((z) => [z, { zone: z, subscribers: 0, planned: 0, skipped: 0, hourShares: [0, 0, 0, 0, 0] }]),
  );
  const subscribersByZone = new Map<string, Set<number>>();
  const perLocal: Record<string, number> = {};
  const perUtc: Record<string, number> = {};
  const skips = new Map<number, number>();
  for (const d of deliveries) {
    const z = byZone.get(d.timeZone);
    if (!z) continue;
    subscribersByZone.set(d.timeZone, (subscribersByZone.get(d.timeZone) ?? new Set()).add(d.subscriberId));
    skips.set(d.subscriberId, (skips.get(d.subscriberId) ?? 0) + (isRotationSkip(d) ? 1 : 0));
    if (isRotationSkip(d)) z.skipped++;
    if (d.state !== 'planned' || !d.plannedAt) continue;
    z.planned++;
    perLocal[d.localDate] = (perLocal[d.localDate] ?? 0) + 1;
    const utc = d.plannedAt.toISOString().slice(0, 10);
    perUtc[utc] = (perUtc[utc] ?? 0) + 1;
    if (d.windowStart.getTime() >= d.createdBy.getTime() + 5 * 60_000) {
      const hour = DateTime.fromJSDate(d.plannedAt, { zone: d.timeZone }).hour - 12;
      z.hourShares[hour] = (z.hourShares[hour] ?? 0) + 1;
    }
  }
  for (const z of byZone.values()) {
    z.subscribers = subscribersByZone.get(z.zone)?.size ?? 0;
    const whole = z.hourShares.reduce((a, b) => a + b, 0);
    z.hourShares = z.hourShares.map((n) => (whole ? (100 * n) / whole : 0));
  }
  const counts = [...skips.values()];
  return {
    zones: [...byZone.values()],
    plannedPerLocalDate: perLocal,
    plannedPerUtcDay: perUtc,
    skipsPerSubscriber: { min: Math.min(...counts), max: Math.max(...counts) },
  };
}

const SETTINGS: PlannerSettings = {
  SEND_WINDOW_START: 12 * 60,
  SEND_WINDOW_END: 17 * 60,
  PLANNER_HORIZON_HOURS: 26,
  TWILIO_MESSAGES_PER_DAY: 180,
  TWILIO_MESSAGES_PER_SECOND: 1,
  OPENAI_REQUESTS_PER_MIN: 50,
  OPENAI_TOKENS_PER_MIN: 10_000,
  OPENAI_EXPECTED_TOKENS_PER_MESSAGE: 250,
};

/** Runs the scenario on a scratch database under `adminUrl` (created and dropped here). */
export async function fairnessScenario(
  adminUrl: string,
  options: { runs: number; at: string; quota: number; perZone: number },
): Promise<FairnessScenario> {
  const name = `measure_fairness_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = dbOnPool(createPool({ connectionString: url.toString(), max: 2 }));
  try {
    await migrateToLatest(db);
    await addSubscribersInZones(db, FAIRNESS_ZONES, options.perZone);
    const { deliveries } = await simulateDailyRuns(
      db,
      { ...SETTINGS, TWILIO_MESSAGES_PER_DAY: options.quota },
      { firstRun: new Date(`2026-03-02T${options.at}:00Z`), days: options.runs, seed: 16 },
    );
    return summarize(deliveries, FAIRNESS_ZONES);
  } finally {
    await db.destroy();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '8' },
      at: { type: 'string', default: '10:00' },
      quota: { type: 'string', default: '180' },
      'per-zone': { type: 'string', default: '10' },
    },
  });
  const [runs, quota, perZone] = [values.runs, values.quota, values['per-zone']].map(Number) as [
    number,
    number,
    number,
  ];
  if (![runs, quota, perZone].every((n) => Number.isInteger(n) && n > 0) || !/^\d\d:\d\d$/.test(values.at)) {
    console.error('--runs, --quota and --per-zone must be positive integers, --at HH:MM (UTC)');
    process.exit(2);
  }
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    console.error('DATABASE_URL must point at a Postgres server where this script may create a database');
    process.exit(2);
  }
  const s = await fairnessScenario(adminUrl, { runs, at: values.at, quota, perZone });
  console.log(
    `${FAIRNESS_ZONES.length * perZone} subscribers in ${FAIRNESS_ZONES.length} zones, quota ${quota}, ${runs} daily runs at ${values.at} UTC`,
  );
  console.log('zone                 planned skipped  local hour 12 13 14 15 16 (%)');
  for (const z of s.zones) {
    console.log(
      `${z.zone.padEnd(20)} ${String(z.planned).padStart(7)} ${String(z.skipped).padStart(7)}  ${z.hourShares
        .map((x) => x.toFixed(0).padStart(3))
        .join(' ')}`,
    );
  }
  console.log(`skips per subscriber: min ${s.skipsPerSubscriber.min}, max ${s.skipsPerSubscriber.max}`);
  console.log(`planned per local date: ${JSON.stringify(s.plannedPerLocalDate)}`);
  console.log(`planned per UTC day:    ${JSON.stringify(s.plannedPerUtcDay)}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
