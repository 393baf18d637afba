// The operator API's request deadline (src/db/request-deadline.ts): set from the invocation's remaining
// time (a fixed budget on the local server), before the token check, so every /api request ends — answered
// — before the webhooks Lambda's timeout. A route takes it from its context (`deadline`) and hands it to
// what it uses: the outside calls it makes before its answer are gated here, its statements by its view of
// the database (dbWithDeadline). A refused call answers 503 with Retry-After (answerDeadline).
import type { Context, MiddlewareHandler } from 'hono';
import { type DeadlineReached, RequestDeadline } from '../db/request-deadline.js';
import { OPERATOR_API_BUDGET, operatorDeadlineMs } from '../domain/call-budgets.js';
import { logger } from '../logger.js';
import type { SendStarter, SmsSender } from '../services/ports.js';
import { apiError } from './errors.js';
import { matchedRoute } from './matched-route.js';

type LambdaEnv = { lambdaContext?: { getRemainingTimeInMillis?: () => number } } | undefined;

/** What the deadline middleware gives the routes after it. */
export type DeadlineEnv = { Variables: { deadline: RequestDeadline } };

export function operatorDeadline<E extends DeadlineEnv>(): MiddlewareHandler<E> {
  return (c, next) => {
    const remaining = (c.env as LambdaEnv)?.lambdaContext?.getRemainingTimeInMillis?.();
    const at = Date.now() + operatorDeadlineMs(remaining);
    c.set('deadline', new RequestDeadline(at, OPERATOR_API_BUDGET.needs));
    return next();
  };
}

/**
 * Called by a sign-up just before it commits: refuses it, so it rolls back, unless the COMMIT and the opt-in
 * text after it can both end by the request's deadline. No sign-up is saved without time to text.
 */
export function ensureTimeToText(deadline: RequestDeadline): void {
  deadline.ensure(OPERATOR_API_BUDGET.needs.commitAndTextMs, 'the opt-in text');
}

/** Texts only when the text (its retries included) ends by the request's deadline. */
export function smsWithinDeadline(sms: SmsSender, deadline: RequestDeadline): SmsSender {
  return {
    send(message) {
      deadline.ensure(OPERATOR_API_BUDGET.needs.optInTextMs, 'the opt-in text');
      return sms.send(message);
    },
  };
}

/**
 * Called by a test send just before its reservation (today's delivery moved to now) commits: refuses it,
 * so it rolls back, unless the COMMIT, the old schedule's removal and the Invoke can all end by the
 * request's deadline. A reservation that commits is then handed over; one refused changed nothing.
 */
export function ensureTimeToHandOver(deadline: RequestDeadline): void {
  deadline.ensure(
    OPERATOR_API_BUDGET.needs.handOverMs,
    "making today's delivery due now and handing it to the sender",
  );
}

/**
 * What a refused Invoke names: the route tells the operator the delivery is reserved, not sent. Only when
 * the COMMIT or the schedule's removal outran its bound after ensureTimeToHandOver let the reservation in.
 */
export const SENDER_HANDOVER = 'handing the send to the sender';

/** Hands a send to the sender only when the Invoke ends by the request's deadline. */
export function starterWithinDeadline(starter: SendStarter, deadline: RequestDeadline): SendStarter {
  return {
    start(request) {
      deadline.ensure(OPERATOR_API_BUDGET.needs.sendStartMs, SENDER_HANDOVER);
      return starter.start(request);
    },
  };
}

/** Seconds an operator waits before repeating a request that ran out of time or found a dependency down. */
export const RETRY_AFTER_SECONDS = 5;

/** 503 + Retry-After for a request that stopped at its deadline; `outcome` says what was (not) done. */
export function answerDeadline(c: Context, error: DeadlineReached, outcome: string) {
  logger.warn('operator request stopped at its deadline', { route: matchedRoute(c), notStarted: error.what });
  return apiError(
    c,
    503,
    'unavailable',
    `the request ran out of time (${error.message}): ${outcome}; try again in a few seconds`,
    { 'Retry-After': String(RETRY_AFTER_SECONDS) },
  );
}
