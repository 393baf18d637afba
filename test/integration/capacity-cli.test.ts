// `positivity capacity`: the same numbers as the pure function the stack checks at synth, settings from
// config/<stage>.json with --set on top, exit 2 on bad input. Through runCli in this process (what the
// binary runs; a child process per case costs seconds of node + tsx start-up), and once as a real process
// for the bin entry's exit code and its one stderr line with no stack.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadCapacitySettings } from '../../lib/stack-settings.js';
import { capacityReport } from '../../src/domain/capacity.js';
import { runCli } from '../../src/local/cli.js';

/** `positivity capacity …` with no database and no .env: the command reads config/ only. */
async function cli(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['node', 'positivity', 'capacity', ...args], {
    env: { PATH: process.env.PATH },
    out: (text) => out.push(text),
    err: (text) => err.push(text),
  });
  const lines = (texts: string[]) => texts.map((t) => `${t}\n`).join('');
  return { code, stdout: lines(out), stderr: lines(err) };
}

describe('positivity capacity', () => {
  it('prints the report of src/domain/capacity.ts for the dev stage', { timeout: 60_000 }, async () => {
    const run = await cli('--subscribers', '100,000', '--json');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const printed = JSON.parse(run.stdout);
    const expected = capacityReport(loadCapacitySettings({ stage: 'dev' }), 100_000);
    expect(printed).toMatchObject({ stage: 'dev', subscribers: 100_000, fits: false });
    expect(printed.lines).toEqual(JSON.parse(JSON.stringify(expected.lines)));
    expect(printed.monthlyCost.totalUsd).toBe(expected.monthlyCost.totalUsd);
  });

  it('takes --set overrides and a zone mix, and says "fits" line by line', { timeout: 60_000 }, async () => {
    const run = await cli(
      '--subscribers',
      '2000',
      '--set',
      'twilioMessagesPerDay=2000',
      '--set',
      'dailyCostLimitUsd=20',
      '--zones',
      'America/New_York=3,America/Los_Angeles=1',
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Capacity for 2,000 subscribers a day, stage dev, America\/New_York ×3/);
    expect(run.stdout).toContain('fits  Daily SMS quota: need 2,000 messages/day, limit 2,000');
    expect(run.stdout).toContain('Result: fits.');
  });

  it.each([
    [['--subscribers', 'many'], /expected a whole number of subscribers/],
    [['--zones', 'Mars/Olympus_Mons=1'], /not an IANA time zone: "Mars\/Olympus_Mons"/],
    [['--set', 'twilioMessagesPerSecond'], /expected key=value/],
  ])('exits 2 on bad input %j', { timeout: 60_000 }, async (args, message) => {
    const run = await cli(...args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  // A bad --set value exited 1 (`failed`) with a multi-line message squashed into one, and a mistyped key
  // was dropped, so the report said "fits" under the defaults (review 6, D4).
  it.each([
    [['--set', 'openaiModel=claude-3'], /openaiModel \(OPENAI_MODEL\): expected a GPT-4-family model/],
    [['--set', 'twilioMessagesPerSecond=abc'], /twilioMessagesPerSecond \(TWILIO_MESSAGES_PER_SECOND\): /],
    [
      ['--set', 'twilioMessagesPerSecnd=6'],
      /twilioMessagesPerSecnd: not a setting \(did you mean twilioMessagesPerSecond\?\)/,
    ],
  ])('exits 2, one line, naming the bad --set %j', { timeout: 60_000 }, async (args, message) => {
    const run = await cli(...args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^positivity: settings for stage dev: /);
    expect(run.stderr).toMatch(message);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).not.toMatch(/:;|\s{2}- /);
    const asJson = await cli(...args, '--json');
    expect(JSON.parse(asJson.stdout).error.code).toBe('bad_input');
  });

  // A stage with no config/<stage>.json silently got the built-in defaults: a typo reported "fits"
  // (review 6, D3). Only dev's defaults are documented as a stage on their own.
  it.each([
    [['--stage', 'prdo'], /config\/prdo\.json does not exist/],
    [['--stage', '../package'], /stage: expected lower-case letters and digits/],
    [['--stage', 'Prod_1'], /stage: expected lower-case letters and digits/],
  ])('refuses %j: exit 2, one line', { timeout: 60_000 }, async (args, message) => {
    const run = await cli(...args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(message);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('as a process (`npx positivity capacity`): exit 2, one line on stderr, no stack', {
    timeout: 60_000,
  }, () => {
    const run = spawnSync(
      process.execPath,
      ['src/local/positivity.mjs', 'capacity', '--subscribers', 'many'],
      {
        env: { PATH: process.env.PATH },
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/expected a whole number of subscribers/);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});
