// Picks each delivery's send instant: uniformly random whole second inside its window, subject to global
// caps shared by every subscriber and zone — per UTC second (Twilio's send pace), per UTC minute (the
// OpenAI budget) and per UTC day (the daily SMS quota) — counting deliveries already planned.

export interface Capacity {
  perSecond: number;
  perMinute: number;
  perDay: number;
}

/** Messages per minute the OpenAI budget allows: each message costs one request and ~`tokens` tokens. */
export function openAiMessagesPerMinute(budget: {
  requestsPerMinute: number;
  tokensPerMinute: number;
  expectedTokensPerMessage: number;
}): number {
  return Math.min(
    budget.requestsPerMinute,
    Math.floor(budget.tokensPerMinute / Math.max(1, budget.expectedTokensPerMessage)),
  );
}

/** A random source in [0, 1): Math.random in production, seeded in tests. */
export type Random = () => number;

/** mulberry32: a tiny, fast, seedable generator; good enough for spreading sends, not for secrets. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export type SlotResult = { ok: true; at: Date } | { ok: false; reason: 'quota' | 'capacity' };

const RANDOM_TRIES = 16;
const dayOf = (second: number) => Math.floor(second / 86_400);
const minuteOf = (second: number) => Math.floor(second / 60);

function bump(map: Map<number, number>, key: number, by = 1) {
  map.set(key, (map.get(key) ?? 0) + by);
}

function drop(map: Map<number, number>, key: number) {
  const left = (map.get(key) ?? 0) - 1;
  if (left > 0) map.set(key, left);
  else map.delete(key);
}

/** Running counts of planned sends per second, minute and day; assigns new slots within the caps. */
export class CapacityLedger {
  private readonly seconds = new Map<number, number>();
  private readonly minutes = new Map<number, number>();
  private readonly days = new Map<number, number>();

  constructor(readonly capacity: Capacity) {
    for (const [name, value] of Object.entries(capacity)) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
    }
  }

  /** Records sends planned earlier (`count` at the same second, e.g. from a GROUP BY). */
  reserve(at: Date, count = 1): void {
    const s = Math.floor(at.getTime() / 1000);
    bump(this.seconds, s, count);
    bump(this.minutes, minuteOf(s), count);
    bump(this.days, dayOf(s), count);
  }

  /** Forgets one send counted at `at` (a delivery moved to another second); never below zero. */
  release(at: Date): void {
    const s = Math.floor(at.getTime() / 1000);
    drop(this.seconds, s);
    drop(this.minutes, minuteOf(s));
    drop(this.days, dayOf(s));
  }

  /** Sends already counted on the UTC day of `at` (for reports and tests). */
  usedOnDay(at: Date): number {
    return this.days.get(dayOf(Math.floor(at.getTime() / 1000))) ?? 0;
  }

  private dayFull(second: number) {
    return (this.days.get(dayOf(second)) ?? 0) >= this.capacity.perDay;
  }
  private minuteFull(minute: number) {
    return (this.minutes.get(minute) ?? 0) >= this.capacity.perMinute;
  }
  private fits(second: number) {
    return (
      (this.seconds.get(second) ?? 0) < this.capacity.perSecond &&
      !this.minuteFull(minuteOf(second)) &&
      !this.dayFull(second)
    );
  }

  /**
   * A uniformly random whole second in [start, end) that has room, reserved before returning. When the
   * window is full, says whether the daily quota (every day it touches is used up) or the per-second /
   * per-minute pace is what ran out.
   */
  assign(start: Date, end: Date, random: Random): SlotResult {
    const first = Math.ceil(start.getTime() / 1000);
    const last = Math.ceil(end.getTime() / 1000); // exclusive
    const span = last - first;
    if (span <= 0) return { ok: false, reason: 'capacity' };

    // Fast path: while the window is mostly free, a few uniform draws find a free second.
    for (let i = 0; i < RANDOM_TRIES; i++) {
      const s = first + Math.floor(random() * span);
      if (this.fits(s)) return this.take(s);
    }

    // Congested: draw uniformly among the free seconds that remain, skipping whole full minutes.
    const free: number[] = [];
    let allDaysFull = true;
    for (let m = minuteOf(first); m * 60 < last; m++) {
      const from = Math.max(first, m * 60);
      const to = Math.min(last, m * 60 + 60);
      if (this.dayFull(from)) continue;
      allDaysFull = false;
      if (this.minuteFull(m)) continue;
      for (let s = from; s < to; s++) {
        if ((this.seconds.get(s) ?? 0) < this.capacity.perSecond) free.push(s);
      }
    }
    if (free.length === 0) return { ok: false, reason: allDaysFull ? 'quota' : 'capacity' };
    return this.take(free[Math.floor(random() * free.length)] as number);
  }

  private take(second: number): SlotResult {
    const at = new Date(second * 1000);
    this.reserve(at);
    return { ok: true, at };
  }
}
