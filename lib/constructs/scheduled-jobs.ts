// The daily housekeeping Lambdas and the EventBridge rules that run them: retention cleanup, Twilio
// reconciliation of deliveries stuck without a final status, and the daily report log line.
import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import { Construct } from 'constructs';
import { LAMBDA_TIMEOUT_MS } from '../../src/domain/call-budgets.js';
import type { LambdaName } from '../lambda-bundling.js';
import { ServiceFunction, type ServiceFunctionShared } from './service-function.js';

export interface ScheduledJobSpec {
  name: Extract<LambdaName, 'cleanup' | 'reconcile' | 'daily-report'>;
  description: string;
  /** EventBridge cron, UTC. */
  cron: string;
  timeout: Duration;
}

/**
 * UTC times chosen after the day's sends: US windows end by 17:00 Pacific (00:00–01:00 UTC) and status
 * callbacks land within minutes, so by 02:00 UTC yesterday's figures are final. The report runs last so it
 * sees what reconciliation corrected. All finish long before the planner (dailyCron, 06:00 by default).
 */
export const SCHEDULED_JOBS: readonly ScheduledJobSpec[] = [
  {
    name: 'reconcile',
    description: 'Asks Twilio for the status of deliveries still open 24 h after sending',
    cron: 'cron(0 2 * * ? *)',
    // Twilio's API at a few requests a second; the service stops at the deadline and the next run resumes.
    timeout: Duration.millis(LAMBDA_TIMEOUT_MS.reconcile),
  },
  {
    name: 'cleanup',
    description:
      'Clears message bodies, inbound texts and status events past RETENTION_DAYS, and sign-ups nobody answered past PENDING_EXPIRY_DAYS',
    cron: 'cron(30 2 * * ? *)',
    // Bounded batches with a deadline: a large backlog is worked off over several nights.
    timeout: Duration.millis(LAMBDA_TIMEOUT_MS.cleanup),
  },
  {
    name: 'daily-report',
    description: 'Logs yesterday’s sends, delivery rate, opt-outs and cost as one line',
    cron: 'cron(0 3 * * ? *)',
    timeout: Duration.millis(LAMBDA_TIMEOUT_MS['daily-report']),
  },
];

export interface ScheduledJobsProps {
  shared: ServiceFunctionShared;
  jobs?: readonly ScheduledJobSpec[];
}

export class ScheduledJobs extends Construct {
  readonly functions: Record<ScheduledJobSpec['name'], ServiceFunction>;
  readonly rules: Record<ScheduledJobSpec['name'], events.Rule>;

  constructor(scope: Construct, id: string, props: ScheduledJobsProps) {
    super(scope, id);
    const functions: Partial<Record<ScheduledJobSpec['name'], ServiceFunction>> = {};
    const rules: Partial<Record<ScheduledJobSpec['name'], events.Rule>> = {};
    for (const job of props.jobs ?? SCHEDULED_JOBS) {
      const constructId = job.name === 'daily-report' ? 'DailyReport' : capitalize(job.name);
      const fn = new ServiceFunction(this, constructId, {
        shared: props.shared,
        name: job.name,
        description: job.description,
        timeout: job.timeout,
        memorySize: 512,
      });
      rules[job.name] = new events.Rule(this, `${constructId}Daily`, {
        description: `Runs ${job.name} once a day`,
        schedule: events.Schedule.expression(job.cron),
        targets: [new targets.LambdaFunction(fn.fn, { retryAttempts: 2, maxEventAge: Duration.hours(2) })],
      });
      functions[job.name] = fn;
    }
    this.functions = functions as Record<ScheduledJobSpec['name'], ServiceFunction>;
    this.rules = rules as Record<ScheduledJobSpec['name'], events.Rule>;
  }
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
