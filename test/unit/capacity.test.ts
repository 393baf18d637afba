// Capacity arithmetic (src/domain/capacity.ts): the numbers the synth-time check and `positivity capacity` share.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  apiThrottle,
  type CapacitySettings,
  capacityReport,
  concurrencyPlan,
  egressCost,
  InvalidZoneMix,
  maxConnections,
  parseZoneMix,
  peakSendsPerMinute,
  safeConnections,
  senderConcurrency,
  stackCapacityProblems,
  WEBHOOK_SPOOL_CONCURRENCY,
  webhooksConcurrency,
} from '../../src/domain/capacity.js';
import { DB_POOL_SIZE } from '../../src/domain/database-pools.js';

const DEFAULTS: CapacitySettings = {
  messagesPerSecond: 1,
  accountConcurrency: 10,
  databaseInstanceType: 't4g.micro',
  rdsProxy: false,
  messagesPerDay: 1000,
  sendWindow: { startMinute: 720, endMinute: 1020 },
  openaiTokensPerMinute: 10_000,
  openaiRequestsPerMinute: 50,
  openaiExpectedTokensPerMessage: 250,
  openaiInputPerMTokUsd: 0.15,
  openaiOutputPerMTokUsd: 0.6,
  smsPricePerSegmentUsd: 0.0083,
  dailyCostLimitUsd: 10,
  schedulerCreatePerSecond: 250,
  schedulerMaxSchedules: 1_000_000,
  egress: 'nat-instance',
};

describe('HTTP API throttle', () => {
  it.each([
    [1, 50, 100],
    [10, 60, 120],
    [56, 336, 672],
  ])('at %i msg/s: %i requests/s, bursts of %i', (mps, rateLimit, burstLimit) => {
    expect(apiThrottle(mps)).toEqual({ rateLimit, burstLimit });
  });
});

describe('concurrency each Lambda needs', () => {
  it.each([
    [1, 5, 5],
    [3, 15, 5],
    [10, 50, 15],
    [100, 500, 150],
  ])('at %i msg/s: sender %i, webhooks %i', (mps, sender, webhooks) => {
    expect(senderConcurrency(mps)).toBe(sender);
    expect(webhooksConcurrency(mps)).toBe(webhooks);
  });
});

describe('max_connections (RDS default formula on nominal memory) and the safe half of it', () => {
  it.each([
    ['t4g.micro', 112, 56],
    ['t4g.small', 225, 112],
    ['t4g.medium', 450, 225],
    ['t4g.large', 901, 450],
    ['m7g.2xlarge', 3604, 1802],
  ] as const)('%s → %i, safe %i', (instance, max, safe) => {
    expect(maxConnections(instance)).toBe(max);
    expect(safeConnections(instance)).toBe(safe);
  });
});

describe('concurrency plan', () => {
  it.each([
    // quota, msg/s, mode, Σ need, worst-case connections
    [10, 1, 'shared', 17, 10 * 2 + 1], // a new account: nothing can be reserved
    [110, 1, 'shared', 17, 110 * 2 + 1], // 10 reservable < 17 needed: still shared
    // sender, webhooks (live + spool), planner and migrate 2 each, three single-connection jobs, rotation
    [1000, 1, 'reserved', 17, 5 * 2 + (5 + 2) * 2 + 2 + 2 + 3 + 1],
    [1000, 3, 'reserved', 27, 15 * 2 + (5 + 2) * 2 + 2 + 2 + 3 + 1],
  ] as const)(
    'quota %i at %i msg/s → %s (need %i, worst %i connections)',
    (quota, mps, mode, need, worst) => {
      const plan = concurrencyPlan({ accountConcurrency: quota, messagesPerSecond: mps });
      expect(plan.mode).toBe(mode);
      expect(plan.totalNeed).toBe(need);
      expect(plan.worstCaseConnections).toBe(worst);
      if (mode === 'reserved') expect(plan.max).toEqual(plan.need);
    },
  );
});

describe('the webhook spool consumer', () => {
  it('runs inside the webhooks reservation on top of the live webhooks, and its connections are counted', () => {
    const plan = concurrencyPlan({ accountConcurrency: 1000, messagesPerSecond: 10 });
    // Draining after an outage must not take live webhooks' room: SQS may run WEBHOOK_SPOOL_CONCURRENCY
    // consumers of the same function at once, each with the webhooks pool.
    expect(plan.need.webhooks).toBe(webhooksConcurrency(10) + WEBHOOK_SPOOL_CONCURRENCY);
    expect(plan.worstCaseConnections).toBeGreaterThanOrEqual(
      (webhooksConcurrency(10) + WEBHOOK_SPOOL_CONCURRENCY) * DB_POOL_SIZE.webhooks,
    );
  });
});

describe('stack checks at synth', () => {
  it('passes the defaults of a new account', () => {
    expect(stackCapacityProblems(DEFAULTS)).toEqual([]);
  });

  it('refuses a pace the account quota cannot run, naming the quota to request', () => {
    const [problem, ...rest] = stackCapacityProblems({ ...DEFAULTS, messagesPerSecond: 3 });
    expect(rest).toEqual([]);
    expect(problem).toMatch(/^lambdaConcurrencyQuota: twilioMessagesPerSecond 3 needs 15 concurrent senders/);
    expect(problem).toContain('"Concurrent executions" ≥ 127');
  });

  it('refuses more worst-case connections than the instance safely holds, naming each fix', () => {
    const [problem] = stackCapacityProblems({ ...DEFAULTS, accountConcurrency: 1000, messagesPerSecond: 5 });
    // sender 25×2 + webhooks (8 + 2 spool)×2 + planner 1×2 + migrate 1×2 + three single-connection jobs
    // + rotation = 78 > 56
    expect(problem).toMatch(/^databaseInstanceType: worst case 78 Postgres connections/);
    expect(problem).toContain('exceeds the safe 56');
    expect(problem).toContain('databaseInstanceType t4g.small (safe 112)');
    expect(problem).toContain('rdsProxy: true');
    expect(
      stackCapacityProblems({ ...DEFAULTS, accountConcurrency: 1000, messagesPerSecond: 5, rdsProxy: true }),
    ).toEqual([]);
    expect(
      stackCapacityProblems({
        ...DEFAULTS,
        accountConcurrency: 1000,
        messagesPerSecond: 5,
        databaseInstanceType: 't4g.small',
      }),
    ).toEqual([]);
  });

  it('tells a large shared quota to become reservable', () => {
    const [problem] = stackCapacityProblems({ ...DEFAULTS, accountConcurrency: 200, messagesPerSecond: 20 });
    expect(problem).toContain('worst case 401 Postgres connections');
    expect(problem).toContain('raise lambdaConcurrencyQuota to ≥ 237');
  });
});

describe('peak sends per minute', () => {
  const window = { startMinute: 720, endMinute: 1020 };
  it.each([
    ['one zone', [{ utcOffsetMinutes: -300, share: 1 }], 10],
    [
      'two zones 3 h apart overlap for 2 h',
      [
        { utcOffsetMinutes: -300, share: 1 },
        { utcOffsetMinutes: -480, share: 1 },
      ],
      10,
    ],
    [
      'two zones 6 h apart never overlap',
      [
        { utcOffsetMinutes: 0, share: 1 },
        { utcOffsetMinutes: -360, share: 1 },
      ],
      5,
    ],
    ['a window crossing UTC midnight', [{ utcOffsetMinutes: 600, share: 1 }], 10],
    [
      'uneven shares',
      [
        { utcOffsetMinutes: 0, share: 3 },
        { utcOffsetMinutes: -600, share: 1 },
      ],
      7.5,
    ],
  ])('%s', (_name, zones, perMinute) => {
    expect(peakSendsPerMinute(3000, zones, window)).toBeCloseTo(perMinute, 9);
  });
});

describe('capacity report', () => {
  const byId = (subscribers: number, settings = DEFAULTS) =>
    Object.fromEntries(capacityReport(settings, subscribers).lines.map((l) => [l.id, l]));

  it('fits 1,000 subscribers on the defaults, with no change to suggest', () => {
    const report = capacityReport(DEFAULTS, 1000);
    expect(report.fits).toBe(true);
    expect(report.lines.map((l) => l.id)).toEqual([
      'send-pace',
      'daily-quota',
      'openai-tokens',
      'openai-requests',
      'daily-cost',
      'scheduler-rate',
      'scheduler-schedules',
      'sender-concurrency',
      'lambda-concurrency',
      'db-connections',
    ]);
    for (const line of report.lines) expect(line.change, line.id).toBeUndefined();
  });

  it('says what to change for 100,000 subscribers in one zone', () => {
    const lines = byId(100_000);
    // 100,000 over a 300-minute window = 333.3 sends/min = 5.56 msg/s
    expect(lines['send-pace']).toMatchObject({ need: 5.556, limit: 1, fits: false });
    expect(lines['send-pace']?.change).toMatch(/^twilioMessagesPerSecond ≥ 6/);
    expect(lines['daily-quota']).toMatchObject({ need: 100_000, fits: false });
    expect(lines['openai-tokens']).toMatchObject({ need: 83_334, fits: false });
    expect(lines['daily-cost']?.fits).toBe(false);
    expect(lines['scheduler-rate']).toMatchObject({ need: 400, fits: true });
    expect(lines['db-connections']?.fits).toBe(true);
  });

  it('counts pending schedules against the account quota at 1,000,000', () => {
    expect(byId(1_000_000)['scheduler-schedules']).toMatchObject({ need: 1_300_000, fits: false });
    expect(byId(1_000_000)['scheduler-rate']?.change).toContain('≥ 1191/s');
  });

  it('estimates the monthly fixed cost of the default stack', () => {
    const { fixed } = capacityReport(DEFAULTS, 0).monthlyCost;
    expect(Object.fromEntries(fixed.map((c) => [c.item, c.usdPerMonth]))).toEqual({
      'RDS db.t4g.micro PostgreSQL, single-AZ': 11.68,
      'RDS gp3 storage, 20 GB': 2.3,
      'NAT instance t4g.nano': 3.07,
      'NAT instance root volume, 8 GB gp3 (encrypted)': 0.64,
      'Public IPv4 address': 3.65,
      'Egress probe Lambda, 4,380 runs': 0.01,
      'Secrets Manager, 4 secrets': 1.6,
      'CloudWatch: 18 alarms, 1 dashboard': 4.8,
    });
  });

  it('prices a NAT gateway and RDS Proxy when chosen', () => {
    expect(egressCost('nat-gateway').map((c) => Math.round(c.usdPerMonth * 100) / 100)).toEqual([
      32.85, 3.65, 0.01,
    ]);
    const { fixed } = capacityReport({ ...DEFAULTS, rdsProxy: true }, 0).monthlyCost;
    expect(fixed.find((c) => c.item === 'RDS Proxy')?.usdPerMonth).toBe(21.9);
  });
});

describe('the report and the synth-time check agree', () => {
  const grid = [10, 110, 300, 1000].flatMap((quota) =>
    [1, 3, 5, 20, 60].flatMap((mps) =>
      (['t4g.micro', 't4g.large'] as const).flatMap((instance) =>
        [false, true].map((rdsProxy) => ({ quota, mps, instance, rdsProxy })),
      ),
    ),
  );
  it.each(grid)(
    'quota $quota, $mps msg/s, $instance, proxy $rdsProxy',
    ({ quota, mps, instance, rdsProxy }) => {
      const settings = {
        ...DEFAULTS,
        accountConcurrency: quota,
        messagesPerSecond: mps,
        databaseInstanceType: instance,
        rdsProxy,
      };
      const problems = stackCapacityProblems(settings);
      const lines = Object.fromEntries(capacityReport(settings, 1000).lines.map((l) => [l.id, l]));
      expect(lines['db-connections']?.fits).toBe(!problems.some((p) => p.startsWith('databaseInstanceType')));
      expect(lines['sender-concurrency']?.fits).toBe(
        !problems.some((p) => p.startsWith('lambdaConcurrencyQuota')),
      );
    },
  );
});

describe('the time-zone mix (--zones, ?zones=)', () => {
  const AT = new Date('2026-06-01T12:00:00Z');

  it.each([['Infinity'], ['-Infinity'], ['1e309'], ['0'], ['-5'], ['NaN'], ['']])(
    'refuses the share %j',
    (share) => {
      expect(() => parseZoneMix(`America/New_York=${share}`, AT)).toThrow(
        new InvalidZoneMix(`not a positive share for America/New_York: ${JSON.stringify(share)}`),
      );
    },
  );

  it('refuses shares whose sum is not a finite number', () => {
    expect(() => parseZoneMix('America/New_York=1e308,Europe/London=1e308', AT)).toThrow(
      /the shares add up to more than a number can hold/,
    );
  });

  it('reads shares as relative weights', () => {
    expect(parseZoneMix('America/New_York=60, Europe/London=40', AT)).toEqual([
      { utcOffsetMinutes: -240, share: 60, label: 'America/New_York' },
      { utcOffsetMinutes: 60, share: 40, label: 'Europe/London' },
    ]);
  });

  // Any mix it accepts gives a report of finite numbers: no "NaN sends/min", no Infinity, no null in the JSON.
  it('accepts only mixes whose report holds finite numbers', () => {
    const ZONES = ['America/New_York', 'Europe/London', 'Asia/Tokyo', 'Pacific/Kiritimati'];
    const share = fc.oneof(
      fc.double().map(String),
      fc.constantFrom('1e308', '1.7976931348623157e308', '5e-324', '1e-300', 'Infinity', '0x10', '1e2'),
      fc.nat().map(String),
    );
    const mix = fc.array(fc.tuple(fc.constantFrom(...ZONES), share), { minLength: 1, maxLength: 4 });
    fc.assert(
      fc.property(mix, fc.integer({ min: 1, max: 100_000_000 }), (parts, subscribers) => {
        let zones: ReturnType<typeof parseZoneMix>;
        try {
          zones = parseZoneMix(parts.map(([zone, w]) => `${zone}=${w}`).join(','), AT);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidZoneMix);
          return;
        }
        const report = capacityReport(DEFAULTS, subscribers, zones);
        const json = JSON.stringify(report);
        expect(json).not.toMatch(/NaN|Infinity|null/);
        expect(peakSendsPerMinute(subscribers, zones, DEFAULTS.sendWindow)).toBeLessThanOrEqual(subscribers);
      }),
      { numRuns: 300 },
    );
  });
});
