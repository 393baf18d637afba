// WHEN a delivery is sent: a uniformly random whole second of its window, subject only to the pace shared
// by every subscriber and zone — per UTC second (Twilio's send pace) and per UTC minute (the OpenAI budget),
// counting deliveries already planned. Whether a subscriber is sent at all (the daily quota) is decided
// elsewhere (src/domain/quota.ts); this module never looks at a day.

export interface Pace {
  perSecond: number;
  perMinute: number;
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

/** Fisher–Yates, in place. */
function shuffle<T extends { [i: number]: unknown; length: number }>(items: T, random: Random): T {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const swap = items[i];
    items[i] = items[j];
    items[j] = swap;
  }
  return items;
}

export type SlotResult = { ok: true; at: Date } | { ok: false; reason: 'capacity' };

const RANDOM_TRIES = 16;
const minuteOf = (second: number) => Math.floor(second / 60);

function bump(map: Map<number, number>, key: number, by = 1) {
  map.set(key, (map.get(key) ?? 0) + by);
}

/**
 * Counts per slot (a second, or a minute), kept in one typed array per block of slots: a planner run
 * touches three or four days, and an array index is several times cheaper than a hash lookup when a run
 * places a hundred thousand sends.
 */
class SlotCounts {
  private readonly blocks = new Map<number, Uint32Array>();
  private lastBlock = Number.NaN;
  private last: Uint32Array | undefined;

  constructor(private readonly blockSize: number) {}

  private block(b: number, create: boolean): Uint32Array | undefined {
    if (b === this.lastBlock) return this.last;
    let counts = this.blocks.get(b);
    if (!counts && create) {
      counts = new Uint32Array(this.blockSize);
      this.blocks.set(b, counts);
    }
    if (counts) {
      this.lastBlock = b;
      this.last = counts;
    }
    return counts;
  }

  get(slot: number): number {
    const b = Math.floor(slot / this.blockSize);
    const counts = this.block(b, false);
    return counts ? (counts[slot - b * this.blockSize] as number) : 0;
  }

  add(slot: number, by: number): void {
    const b = Math.floor(slot / this.blockSize);
    const counts = this.block(b, true) as Uint32Array;
    const i = slot - b * this.blockSize;
    counts[i] = Math.max(0, (counts[i] as number) + by);
  }
}

/** Running counts of planned sends per UTC second and minute; assigns new seconds within the pace. */
export class CapacityLedger {
  private readonly seconds = new SlotCounts(86_400);
  private readonly minutes = new SlotCounts(1_440);
  /** Sends one minute can hold: the per-minute cap, or 60 × the per-second cap if lower. */
  readonly minuteCapacity: number;

  constructor(readonly pace: Pace) {
    for (const [name, value] of Object.entries(pace)) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
    }
    this.minuteCapacity = Math.min(pace.perMinute, 60 * pace.perSecond);
  }

  /** Records sends planned earlier (`count` at the same second, e.g. from a GROUP BY). */
  reserve(at: Date, count = 1): void {
    this.reserveSecond(Math.floor(at.getTime() / 1000), count);
  }

  private reserveSecond(s: number, count = 1): void {
    this.seconds.add(s, count);
    this.minutes.add(minuteOf(s), count);
  }

  /** Forgets one send counted at `at` (a delivery moved to another second); never below zero. */
  release(at: Date): void {
    const s = Math.floor(at.getTime() / 1000);
    if (this.seconds.get(s) === 0) return;
    this.seconds.add(s, -1);
    this.minutes.add(minuteOf(s), -1);
  }

  /** Sends the UTC minute starting at `minute` × 60 s can still take (negative when over-booked). */
  roomInMinute(minute: number): number {
    return this.minuteCapacity - this.minutes.get(minute);
  }

  /**
   * Sends the seconds of minute `minute` flagged in `covered` (index = second of the minute) can still take:
   * the minute's room, or less when the per-second cap over those seconds binds first.
   */
  roomInSeconds(minute: number, covered: readonly boolean[]): number {
    let free = 0;
    for (let i = 0; i < 60; i++) {
      if (covered[i]) free += Math.max(0, this.pace.perSecond - this.seconds.get(minute * 60 + i));
    }
    return Math.min(this.roomInMinute(minute), free);
  }

  private fits(second: number) {
    return this.seconds.get(second) < this.pace.perSecond && this.roomInMinute(minuteOf(second)) > 0;
  }

  /**
   * A uniformly random whole second in [start, end) that has room, reserved before returning; when
   * random draws keep hitting full seconds, uniformly among the free seconds left.
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
    for (let m = minuteOf(first); m * 60 < last; m++) {
      if (this.roomInMinute(m) <= 0) continue;
      for (let s = Math.max(first, m * 60); s < Math.min(last, m * 60 + 60); s++) {
        if (this.seconds.get(s) < this.pace.perSecond) free.push(s);
      }
    }
    if (free.length === 0) return { ok: false, reason: 'capacity' };
    return this.take(free[Math.floor(random() * free.length)] as number);
  }

  /** The free second nearest to `second` inside [first, last), reserved; null when none is free. */
  nearestFree(second: number, first: number, last: number): number | null {
    if (this.fits(second)) {
      this.reserveSecond(second);
      return second;
    }
    const home = minuteOf(second);
    for (let d = 0; ; d++) {
      const before = home - d;
      const after = home + d;
      const beforeIn = before * 60 + 59 >= first;
      const afterIn = after * 60 < last;
      if (!beforeIn && !afterIn) return null;
      // Within a minute, the free second closest to the drawn one.
      for (const m of d === 0 ? [home] : [before, after]) {
        if (m * 60 + 59 < first || m * 60 >= last || this.roomInMinute(m) <= 0) continue;
        let best: number | null = null;
        for (let s = Math.max(first, m * 60); s < Math.min(last, m * 60 + 60); s++) {
          if (this.seconds.get(s) >= this.pace.perSecond) continue;
          if (best === null || Math.abs(s - second) < Math.abs(best - second)) best = s;
        }
        if (best !== null) {
          this.reserveSecond(best);
          return best;
        }
      }
    }
  }

  private take(second: number): SlotResult {
    this.reserveSecond(second);
    return { ok: true, at: new Date(second * 1000) };
  }
}

const WHOLE_MINUTE: readonly boolean[] = new Array<boolean>(60).fill(true);

/** `count` sends wanted over the whole seconds [start, end) (end exclusive). */
export interface PaceDemand {
  start: number;
  end: number;
  count: number;
}

/**
 * How many of each demand the pace can take so that, spread uniformly over its window, no minute is
 * over capacity: progressive filling. Every demand grows at the same rate (the same share of its count)
 * until some minute is full; demands touching that minute stop there, the others go on. So windows that
 * share a bottleneck lose the same share of their sends, whoever they are, and a window with room is not
 * cut for another's congestion.
 */
export function allocatePace(ledger: CapacityLedger, demands: PaceDemand[]): number[] {
  const minutesOf = demands.map((d) => {
    const span = d.end - d.start;
    const shares: [number, number][] = [];
    if (d.count <= 0 || span <= 0) return shares;
    for (let m = minuteOf(d.start); m * 60 < d.end; m++) {
      const overlap = Math.min(d.end, m * 60 + 60) - Math.max(d.start, m * 60);
      if (overlap > 0) shares.push([m, (d.count * overlap) / span]);
    }
    return shares;
  });
  // What each minute can take: only its seconds inside some window count (a window may cover part of it).
  const covered = new Map<number, readonly boolean[]>();
  for (const d of demands) {
    if (d.count <= 0) continue;
    for (let m = minuteOf(d.start); m * 60 < d.end; m++) {
      const from = Math.max(d.start, m * 60) - m * 60;
      const to = Math.min(d.end, m * 60 + 60) - m * 60;
      const flags = covered.get(m);
      if (flags === WHOLE_MINUTE) continue;
      if (from === 0 && to === 60) {
        covered.set(m, WHOLE_MINUTE);
        continue;
      }
      const partial = flags ? [...flags] : new Array<boolean>(60).fill(false);
      for (let i = from; i < to; i++) partial[i] = true;
      covered.set(m, partial);
    }
  }
  const room = new Map<number, number>();
  for (const [m, flags] of covered) room.set(m, ledger.roomInSeconds(m, flags));

  const level = demands.map(() => 0);
  const frozen = new Map<number, number>();
  const active = new Set(minutesOf.flatMap((shares, i) => (shares.length > 0 ? [i] : [])));
  while (active.size > 0) {
    const rate = new Map<number, number>();
    for (const i of active) for (const [m, load] of minutesOf[i] ?? []) bump(rate, m, load);
    let lowest = Number.POSITIVE_INFINITY;
    let bottleneck = Number.NaN;
    for (const [m, r] of rate) {
      const fill = ((room.get(m) ?? 0) - (frozen.get(m) ?? 0)) / r;
      if (fill < lowest) {
        lowest = fill;
        bottleneck = m;
      }
    }
    if (lowest >= 1) {
      for (const i of active) level[i] = 1;
      break;
    }
    const at = Math.max(0, lowest);
    for (const i of [...active]) {
      const shares = minutesOf[i] ?? [];
      if (!shares.some(([m]) => m === bottleneck)) continue;
      level[i] = at;
      active.delete(i);
      for (const [m, load] of shares) frozen.set(m, (frozen.get(m) ?? 0) + at * load);
    }
  }
  return demands.map((d, i) => Math.min(d.count, Math.floor((level[i] ?? 0) * d.count + 1e-9)));
}

/**
 * Seconds for each demand, reserved in the ledger: the window is cut into `count` equal strata and each
 * send gets a uniformly random second of its own stratum (every send's second is uniform over the window,
 * and the window's hours get their share even for small counts). Strata of all demands are placed in one
 * random order, so no window gets first pick of a shared minute; a stratum whose drawn second is full
 * moves to the nearest free second of its window. Returns, per demand, its sends' Unix seconds in random
 * order, NaN for a send with no free second left.
 */
export function placeSpread(ledger: CapacityLedger, demands: PaceDemand[], random: Random): Float64Array[] {
  // Stratum n of the run belongs to the demand whose offset range holds n.
  const offsets = new Int32Array(demands.length + 1);
  for (const [i, d] of demands.entries()) offsets[i + 1] = (offsets[i] as number) + Math.max(0, d.count);
  const total = offsets[demands.length] as number;
  const strata = new Int32Array(total);
  for (let n = 0; n < total; n++) strata[n] = n;
  shuffle(strata, random);
  const placed = demands.map((d) => new Float64Array(Math.max(0, d.count)).fill(Number.NaN));
  let i = 0;
  for (const n of strata) {
    // Demands are few: a short walk finds the one stratum n belongs to.
    i = 0;
    while ((offsets[i + 1] as number) <= n) i++;
    const d = demands[i] as PaceDemand;
    const k = n - (offsets[i] as number);
    const span = d.end - d.start;
    const lo = d.start + Math.floor((k * span) / d.count);
    const hi = Math.max(lo + 1, d.start + Math.floor(((k + 1) * span) / d.count));
    const drawn = Math.min(d.end - 1, lo + Math.floor(random() * (hi - lo)));
    const second = ledger.nearestFree(drawn, d.start, d.end);
    (placed[i] as Float64Array)[k] = second ?? Number.NaN;
  }
  for (const p of placed) shuffle(p, random);
  return placed;
}
