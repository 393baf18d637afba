// Chi-square goodness of fit of planned local send times against a uniform draw over the send window,
// binned by local hour (each bin's expected share is its length: the last hour is shorter by the tail
// margin, a window may start or end mid-hour). Used by the planner's fairness tests and the benchmark.
import jStat from 'jstat';

export interface ChiSquare {
  statistic: number;
  df: number;
  /** P(χ² ≥ statistic) under the uniform hypothesis. */
  p: number;
  observed: number[];
  expected: number[];
}

/** Pearson's chi-square of `observed` counts against `weights` (any positive scale). */
function chiSquare(observed: number[], weights: number[]): ChiSquare {
  const n = observed.reduce((a, b) => a + b, 0);
  const total = weights.reduce((a, b) => a + b, 0);
  const expected = weights.map((w) => (n * w) / total);
  const statistic = observed.reduce((sum, o, i) => {
    const e = expected[i] as number;
    return sum + (o - e) ** 2 / e;
  }, 0);
  const df = observed.length - 1;
  return { statistic, df, p: 1 - jStat.chisquare.cdf(statistic, df), observed, expected };
}

/**
 * Local-hour bins of a window [startMinute, endMinute) minus `tailMs` at its end: the hour each bin
 * starts at and its length in seconds.
 */
function hourBins(
  window: { startMinute: number; endMinute: number },
  tailMs = 0,
): { hour: number; seconds: number }[] {
  const start = window.startMinute * 60;
  const end = window.endMinute * 60 - Math.round(tailMs / 1000);
  const bins: { hour: number; seconds: number }[] = [];
  for (let h = Math.floor(start / 3600); h * 3600 < end; h++) {
    bins.push({ hour: h, seconds: Math.min(end, (h + 1) * 3600) - Math.max(start, h * 3600) });
  }
  return bins;
}

/** Chi-square of the local hours of `instants` in `timeZone` against a uniform draw over the window. */
export function localHourUniformity(
  instants: Date[],
  timeZone: string,
  window: { startMinute: number; endMinute: number },
  tailMs = 0,
): ChiSquare {
  const bins = hourBins(window, tailMs);
  const counts = new Map<number, number>();
  // One formatter for all instants: a luxon DateTime per instant cost most of a fit's time.
  const hourIn = new Intl.DateTimeFormat('en-US', { timeZone, hour: 'numeric', hourCycle: 'h23' });
  for (const t of instants) {
    const hour = Number(hourIn.format(t));
    counts.set(hour, (counts.get(hour) ?? 0) + 1);
  }
  const outside = [...counts.keys()].filter((h) => !bins.some((b) => b.hour === h));
  if (outside.length > 0) throw new Error(`send times outside the window's hours: ${outside.join(', ')}`);
  return chiSquare(
    bins.map((b) => counts.get(b.hour) ?? 0),
    bins.map((b) => b.seconds),
  );
}

/** Several independent fits (e.g. one per zone) as one: statistics and degrees of freedom add up. */
export function pooled(fits: readonly ChiSquare[]): { statistic: number; df: number; p: number } {
  const statistic = fits.reduce((sum, f) => sum + f.statistic, 0);
  const df = fits.reduce((sum, f) => sum + f.df, 0);
  return { statistic, df, p: df > 0 ? 1 - jStat.chisquare.cdf(statistic, df) : 1 };
}
