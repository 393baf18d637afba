// `positivity capacity`'s words and settings: what a day of N subscribers needs from Twilio, OpenAI,
// Scheduler, Lambda and the database under a stage's settings (config/<stage>.json), each line with "fits"
// or what to change, and the monthly cost. The arithmetic is src/domain/capacity.ts, the same the CDK stack
// checks at synth; the command itself is in cli.ts (locally, or against a deployed API's settings).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CONFIG_DIR, loadCapacitySettings } from '../../lib/stack-settings.js';
import type { CapacityLine, CapacityReport, DeployedCapacity } from '../domain/capacity.js';
import { logger } from '../logger.js';

/** The stage cdk.json names (what `cdk synth` without -c stage uses). */
export function defaultStage(): string {
  const cdk = JSON.parse(readFileSync(path.join(CONFIG_DIR, '..', 'cdk.json'), 'utf8'));
  return String(cdk.context?.stage ?? 'dev');
}

/**
 * What the local server's GET /api/capacity reports on: the stage cdk.json names, from config/<stage>.json
 * (the deployed API has the stack's copy in CAPACITY_SETTINGS). Undefined, and logged, when the files do
 * not read: the rest of the server does not need them.
 */
export function stageCapacity(): DeployedCapacity | undefined {
  try {
    const stage = defaultStage();
    return { stage, settings: loadCapacitySettings({ stage }) };
  } catch (error) {
    logger.warn('capacity settings unreadable; GET /api/capacity answers 503', { error });
    return undefined;
  }
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
