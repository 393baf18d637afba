// `positivity capacity`: what a day of N subscribers needs from Twilio, OpenAI, Scheduler, Lambda and the
// database under a stage's settings (config/<stage>.json), each line with "fits" or what to change, and the
// monthly cost. The arithmetic is src/domain/capacity.ts, the same the CDK stack checks at synth.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { IANAZone } from 'luxon';
import { CONFIG_DIR, loadCapacitySettings } from '../../lib/stack-settings.js';
import {
  type CapacityLine,
  type CapacityReport,
  capacityReport,
  type ZoneShare,
} from '../domain/capacity.js';
import { isValidTimeZone } from '../domain/time-zone.js';

function subscribersArg(value: string): number {
  const n = Number(value.replaceAll(/[,_]/g, ''));
  if (!Number.isInteger(n) || n < 1 || n > 100_000_000)
    throw new InvalidArgumentError('expected a whole number of subscribers, such as 100000');
  return n;
}

/** "America/New_York=60,America/Los_Angeles=40" → each zone's UTC offset today and its share. */
export function zonesArg(value: string, at: Date = new Date()): ZoneShare[] {
  return value.split(',').map((part) => {
    const [zone = '', share = '1'] = part.trim().split('=');
    const weight = Number(share);
    if (!isValidTimeZone(zone))
      throw new InvalidArgumentError(`not an IANA time zone: ${JSON.stringify(zone)}`);
    if (!(weight > 0))
      throw new InvalidArgumentError(`not a positive share for ${zone}: ${JSON.stringify(share)}`);
    return { utcOffsetMinutes: IANAZone.create(zone).offset(at.getTime()), share: weight, label: zone };
  });
}

function settingArg(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = value.indexOf('=');
  if (at < 1) throw new InvalidArgumentError(`expected key=value, such as twilioMessagesPerSecond=6`);
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}

/** The stage cdk.json names (what `cdk synth` without -c stage uses). */
function defaultStage(): string {
  const cdk = JSON.parse(readFileSync(path.join(CONFIG_DIR, '..', 'cdk.json'), 'utf8'));
  return String(cdk.context?.stage ?? 'dev');
}

const n = (v: number) => v.toLocaleString('en-US', { maximumFractionDigits: 3 });
const usd = (v: number) =>
  `$${v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

function lineText(line: CapacityLine): string {
  const head = `${line.fits ? 'fits' : 'DOES NOT FIT'}  ${line.title}: need ${n(line.need)} ${line.unit}, limit ${n(line.limit)}`;
  const change = line.change ? `\n      change: ${line.change}` : '';
  return `  ${head}\n      ${line.detail}${change}`;
}

export function describeCapacity(report: CapacityReport, stage: string): string {
  const zones =
    report.zones.length === 1 && report.zones[0]?.label === 'one time zone'
      ? 'everyone in one time zone (the worst case)'
      : report.zones.map((z) => `${z.label ?? z.utcOffsetMinutes} ×${z.share}`).join(', ');
  const cost = report.monthlyCost;
  const costLines = [...cost.fixed, ...cost.usage].map(
    (c) => `  ${usd(c.usdPerMonth).padStart(12)}  ${c.item} (${c.arithmetic})`,
  );
  const misfits = report.lines.filter((l) => !l.fits).length;
  return [
    `Capacity for ${n(report.subscribers)} subscribers a day, stage ${stage}, ${zones}:`,
    ...report.lines.map(lineText),
    '',
    `Monthly cost estimate (us-east-1 list prices, 30 days):`,
    ...costLines,
    `  ${usd(cost.totalUsd).padStart(12)}  total`,
    '',
    misfits === 0 ? 'Result: fits.' : `Result: does not fit; ${misfits} line(s) above say what to change.`,
  ].join('\n');
}

/** Adds `capacity` to the operator CLI. Needs no database: it reads the stage's settings only. */
export function addCapacityCommand(program: Command): void {
  program
    .command('capacity')
    .description(
      "what a day needs under a stage's settings (Twilio, OpenAI, Scheduler, Lambda, database) and its monthly cost",
    )
    .option('--subscribers <n>', 'subscribers to plan for', subscribersArg, 1000)
    .option('--stage <stage>', 'settings from config/<stage>.json (default: the stage in cdk.json)')
    .option(
      '--zones <zone=share,…>',
      'time-zone mix, e.g. America/New_York=60,America/Los_Angeles=40 (default: all in one zone)',
      (value: string) => zonesArg(value),
    )
    .option(
      '--set <key=value>',
      'override a setting, as `cdk deploy -c key=value` would (repeatable)',
      settingArg,
    )
    .option('--json', 'print machine-readable JSON')
    .action(
      (opts: {
        subscribers: number;
        stage?: string;
        zones?: ZoneShare[];
        set?: Record<string, string>;
        json?: boolean;
      }) => {
        const stage = opts.stage ?? defaultStage();
        const zones = opts.zones;
        const settings = loadCapacitySettings({ stage, overrides: opts.set });
        const report = capacityReport(settings, opts.subscribers, zones);
        console.log(
          opts.json
            ? JSON.stringify({ stage, settings, ...report }, null, 2)
            : describeCapacity(report, stage),
        );
      },
    );
}
