// What a subscriber's time zone change does to the deliveries already planned for them. Each keeps its
// instant and its local date or is cancelled; nothing is moved, so the quota of each date and the pace
// ledger of each second stay as the planner left them.
import { type SendWindow, sendWindowOn, type WindowMinutes } from './send-window.js';

/** A planned delivery as the decision needs it. */
export interface PlannedSend {
  localDate: string;
  /** When it goes out. */
  plannedAt: Date;
}

/**
 * The window a planned delivery has after its subscriber moves to `newZone`: the new zone's window on the
 * same local date, when the planned instant falls inside it (a move between zones with one clock, London →
 * Dublin, keeps every day). Null when it does not: sent as planned it would land outside the window, or
 * inside it on another local date (Honolulu's 14:00 is Kiritimati's 14:00 the next day), which may be a date
 * that has its own delivery. Throws InvalidTimeZone.
 */
export function windowAfterZoneChange(
  delivery: PlannedSend,
  newZone: string,
  window: WindowMinutes,
): SendWindow | null {
  const kept = sendWindowOn(newZone, delivery.localDate, window);
  const at = delivery.plannedAt.getTime();
  return at >= kept.start.getTime() && at < kept.end.getTime() ? kept : null;
}

/** The planned deliveries a move to `newZone` keeps (with their new window) and those it cancels. */
export function sortByZoneChange<T extends PlannedSend>(
  planned: readonly T[],
  newZone: string,
  window: WindowMinutes,
): { keep: { delivery: T; window: SendWindow }[]; cancel: T[] } {
  const keep: { delivery: T; window: SendWindow }[] = [];
  const cancel: T[] = [];
  for (const delivery of planned) {
    const kept = windowAfterZoneChange(delivery, newZone, window);
    if (kept) keep.push({ delivery, window: kept });
    else cancel.push(delivery);
  }
  return { keep, cancel };
}
