// Sending pace over a simulated day: the real planner assigns each subscriber's second (capacity-checked),
// then every planned send becomes ready at its planned second plus the Scheduler's firing delay and the
// model's writing time, and takes its turn on the real rate limiter's `sms_per_second` budget (memory
// store, as configured) exactly as the sender does — all under a fake clock (@sinonjs/fake-timers), so a
// day passes in seconds. Baseline: the same ready times with no limiter.
import { syncBuiltinESMExports } from 'node:module';
import FakeTimers from '@sinonjs/fake-timers';
import { createRateLimiter } from '../../src/adapters/rate-limiter.js';
import type { Config } from '../../src/config.js';
import { seededRandom } from '../../src/domain/slots.js';
import type { PlannerSettings } from '../../src/services/plan-day.js';
import { SMS_LIMIT_KEY } from '../../src/services/send-daily-message.js';
import { withScratchDatabase } from './database.js';
import { PLAN_AT, runPlannerDbPart, seedSubscribers } from './planner.js';
import type { BenchRow } from './report.js';

/** EventBridge Scheduler fires a little after the second (0–2 s) and the model writes in 0.5–3 s. */
const readyDelay = (random: () => number) => random() * 2_000 + 500 + random() * 2_500;

interface Send {
  readyAt: number;
  grantedAt: number | null;
  windowStart: number;
  windowEnd: number;
  timeZone: string;
}

/** Most events in any calendar UTC second, and in any sliding 1,000 ms. */
function busiest(times: number[]): { calendar: number; sliding: number } {
  const sorted = [...times].sort((a, b) => a - b);
  const perSecond = new Map<number, number>();
  for (const t of sorted) perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + 1);
  let sliding = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while ((sorted[i] as number) - (sorted[j] as number) >= 1000) j++;
    sliding = Math.max(sliding, i - j + 1);
  }
  return { calendar: Math.max(0, ...perSecond.values()), sliding };
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};

export async function benchPace(adminUrl: string, config: Config, subscribers: number): Promise<BenchRow[]> {
  const perSecond = config.TWILIO_MESSAGES_PER_SECOND;
  // The configured pace and OpenAI budget; the daily quota raised so every subscriber is planned for.
  const settings: PlannerSettings = {
    SEND_WINDOW_START: config.SEND_WINDOW_START,
    SEND_WINDOW_END: config.SEND_WINDOW_END,
    PLANNER_HORIZON_HOURS: config.PLANNER_HORIZON_HOURS,
    TWILIO_MESSAGES_PER_DAY: Math.max(config.TWILIO_MESSAGES_PER_DAY, subscribers * 2),
    TWILIO_MESSAGES_PER_SECOND: perSecond,
    OPENAI_REQUESTS_PER_MIN: config.OPENAI_REQUESTS_PER_MIN,
    OPENAI_TOKENS_PER_MIN: config.OPENAI_TOKENS_PER_MIN,
    OPENAI_EXPECTED_TOKENS_PER_MESSAGE: config.OPENAI_EXPECTED_TOKENS_PER_MESSAGE,
  };
  const { sends, plannedRows, skipped } = await withScratchDatabase(adminUrl, 'pace', async ({ db }) => {
    await seedSubscribers(db, subscribers);
    await runPlannerDbPart(db, settings, PLAN_AT);
    const rows = await db
      .selectFrom('deliveries')
      .select(['planned_at', 'window_start', 'window_end', 'time_zone', 'state'])
      .execute();
    const random = seededRandom(7);
    const planned = rows.filter((r) => r.state === 'planned' && r.planned_at);
    return {
      plannedRows: planned.length,
      skipped: rows.length - planned.length,
      sends: planned.map(
        (r): Send => ({
          readyAt: Math.round((r.planned_at as Date).getTime() + readyDelay(random)),
          grantedAt: null,
          windowStart: r.window_start.getTime(),
          windowEnd: r.window_end.getTime(),
          timeZone: r.time_zone,
        }),
      ),
    };
  });
  if (sends.length === 0) throw new Error('the planner planned no sends');

  const start = Math.min(...sends.map((s) => s.readyAt)) - 60_000;
  const clock = FakeTimers.install({
    now: start,
    toFake: [
      'setTimeout',
      'clearTimeout',
      'setInterval',
      'clearInterval',
      'setImmediate',
      'clearImmediate',
      'Date',
    ],
    loopLimit: 100_000_000,
  });
  // The limiter sleeps with node:timers/promises; make its ESM binding see the faked function too.
  syncBuiltinESMExports();
  let refused = 0;
  try {
    const limiter = await createRateLimiter({ config: { ...config, RATE_LIMIT_STORE: 'memory' } });
    for (const send of sends) {
      setTimeout(() => {
        void limiter
          .waitForTurn('sms_per_second', SMS_LIMIT_KEY, new Date(send.windowEnd), 1)
          .then((turn) => {
            if (turn.allowed && Date.now() < send.windowEnd) send.grantedAt = Date.now();
            else refused++;
          });
      }, send.readyAt - start);
    }
    await clock.runAllAsync();
  } finally {
    clock.uninstall();
    syncBuiltinESMExports();
  }

  const granted = sends.filter((s) => s.grantedAt !== null);
  if (granted.length + refused !== sends.length) {
    throw new Error(`${sends.length - granted.length - refused} sends never got an answer from the limiter`);
  }
  const grantTimes = granted.map((s) => s.grantedAt as number);
  const withLimiter = busiest(grantTimes);
  const without = busiest(sends.map((s) => s.readyAt));
  const inWindow = granted.filter(
    (s) => (s.grantedAt as number) >= s.windowStart && (s.grantedAt as number) < s.windowEnd,
  );
  const waits = granted.map((s) => (s.grantedAt as number) - s.readyAt);
  const spanHours = (Math.max(...grantTimes) - Math.min(...grantTimes)) / 3_600_000;

  return [
    {
      section: 'pace',
      metric: `max sends in one UTC second (${granted.length.toLocaleString('en-US')} sends)`,
      value: withLimiter.calendar,
      unit: 'sends',
      baseline: { label: 'same day, no limiter', value: without.calendar, unit: 'sends' },
      target: { text: `≤ ${perSecond} (TWILIO_MESSAGES_PER_SECOND)`, met: withLimiter.calendar <= perSecond },
      note:
        `${subscribers.toLocaleString('en-US')} subscribers → ${plannedRows} planned, ${skipped} skipped (capacity); ` +
        `any sliding 1 s: ${withLimiter.sliding} (no limiter ${without.sliding}); ${refused} refused at window end`,
    },
    {
      section: 'pace',
      metric: 'sends made inside the local send window',
      value: inWindow.length,
      unit: `of ${sends.length.toLocaleString('en-US')}`,
      target: { text: 'all', met: inWindow.length === sends.length },
      note:
        `${sends.length - inWindow.length} too late (planned in the window's last seconds, then firing delay + writing); ` +
        `wait for a turn p50 ${percentile(waits, 50).toFixed(0)} ms, p99 ${percentile(waits, 99).toFixed(0)} ms; UTC span ${spanHours.toFixed(1)} h`,
    },
  ];
}
