// Monthly cost for 1,000 subscribers (one message each a day, 30 days): OpenAI tokens and SMS segments as
// measured by the messages section, priced with the configured prices (src/domain/cost.ts), plus the AWS
// fixed cost from DEPLOYMENT.md's "Monthly fixed cost" table.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/lambda-bundling.js';
import type { Config } from '../../src/config.js';
import { estimateCost, pricesFromConfig } from '../../src/domain/cost.js';
import type { MessageStats } from './messages.js';
import type { BenchRow } from './report.js';

const SUBSCRIBERS = 1_000;
const DAYS = 30;

/** The bold total of DEPLOYMENT.md's monthly fixed cost table. */
async function awsFixedMonthlyUSD(): Promise<number> {
  const text = await readFile(path.join(PROJECT_ROOT, 'DEPLOYMENT.md'), 'utf8');
  const section = text.split(/^## /m).find((s) => s.startsWith('Monthly fixed cost'));
  const total = section?.match(/\|\s*\*\*total\*\*\s*\|[^|]*\|\s*\*\*([\d.]+)\*\*\s*\|/);
  if (!total?.[1]) throw new Error('DEPLOYMENT.md: no "**total**" row in "Monthly fixed cost"');
  return Number(total[1]);
}

export async function costRows(config: Config, openai: MessageStats): Promise<BenchRow[]> {
  const messages = SUBSCRIBERS * DAYS;
  const usage = {
    tokensIn: Math.round((openai.tokensIn / openai.messages) * messages),
    tokensOut: Math.round((openai.tokensOut / openai.messages) * messages),
    segments: Math.round((openai.segments / openai.messages) * messages),
  };
  const prices = pricesFromConfig(config);
  const usageCost = estimateCost(usage, prices);
  const aws = await awsFixedMonthlyUSD();
  const total = usageCost.totalUSD + aws;
  return [
    {
      section: 'cost',
      metric: `monthly, ${SUBSCRIBERS.toLocaleString('en-US')} subscribers (${messages.toLocaleString('en-US')} messages)`,
      value: total,
      unit: 'USD',
      baseline: { label: 'the SMS segments alone', value: usageCost.smsUSD, unit: 'USD' },
      ratio: total / usageCost.smsUSD,
      note:
        `OpenAI $${usageCost.openaiUSD.toFixed(2)} (${usage.tokensIn.toLocaleString('en-US')} in × $${prices.inputPerMTokUSD}/M + ` +
        `${usage.tokensOut.toLocaleString('en-US')} out × $${prices.outputPerMTokUSD}/M), SMS $${usageCost.smsUSD.toFixed(2)} ` +
        `(${usage.segments.toLocaleString('en-US')} segments × $${prices.perSegmentUSD}), AWS fixed $${aws.toFixed(2)} (DEPLOYMENT.md); ` +
        `$${(total / SUBSCRIBERS).toFixed(4)} per subscriber`,
    },
  ];
}
