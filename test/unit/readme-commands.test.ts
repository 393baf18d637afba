// README.md's commands still work: every `npm run <script>` it names is in package.json, every `positivity`
// command it names is one the CLI has, and the help it points newcomers to runs.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cliInSource, cliPhrasesIn, commandTableRows, npmScriptsIn } from '../support/docs.js';

// Each CLI run starts node and tsx (seconds on a loaded machine): these tests take long timeouts.

const readme = readFileSync('README.md', 'utf8');
const scripts = Object.keys(JSON.parse(readFileSync('package.json', 'utf8')).scripts);

/** `node src/local/positivity.mjs …`: what `npx positivity …` runs (package.json's bin). */
function positivity(...args: string[]) {
  const run = spawnSync(process.execPath, ['src/local/positivity.mjs', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** The names under "Commands:" in commander's help, without `help` itself. */
function commandsIn(help: string): string[] {
  const section = help.split(/^Commands:$/m)[1] ?? '';
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)]
    .map((m) => m[1] as string)
    .filter((name) => name !== 'help');
}

/** Commands README names: in `positivity …` text and in the first column of the command table. */
function readmeCommands(): string[] {
  return [...new Set([...cliPhrasesIn(readme), ...commandTableRows(readme).map((row) => row.phrase)])];
}

describe('README.md', () => {
  it('is at most 200 lines', () => {
    expect(readme.split('\n').length - 1).toBeLessThanOrEqual(200);
  });

  it('names only npm scripts package.json has', () => {
    const named = npmScriptsIn(readme);
    expect(named.length).toBeGreaterThan(3);
    expect(named.filter((name) => !scripts.includes(name))).toEqual([]);
  });

  it('names only positivity commands the CLI has, and its help runs', () => {
    const top = positivity('--help');
    expect(top.status, top.stderr).toBe(0);
    const commands = commandsIn(top.stdout);
    const sub = positivity('subscribers', '--help');
    expect(sub.status, sub.stderr).toBe(0);
    const subscriberCommands = commandsIn(sub.stdout);
    expect(subscriberCommands).toContain('add');
    // docs-references.test.ts reads the commands from cli.ts rather than run the CLI: the same ones.
    const source = cliInSource();
    expect(source.commands).toEqual(commands);
    expect(source.subcommands).toEqual({ subscribers: subscriberCommands });

    const named = readmeCommands();
    expect(named).toContain('subscribers add');
    const unknown = named.filter((phrase) => {
      const [command, sub] = phrase.split(' ');
      if (!commands.includes(command as string)) return true;
      // `positivity migrate` followed by prose is fine; only `subscribers <sub>` has subcommands.
      return command === 'subscribers' && sub !== undefined && !subscriberCommands.includes(sub);
    });
    expect(unknown).toEqual([]);
  }, 120_000);

  it("runs each named command's --help", () => {
    const named = new Set(readmeCommands().map((phrase) => phrase.split(' ')[0] as string));
    for (const command of ['plan', 'usage', 'capacity'].filter((c) => named.has(c))) {
      const help = positivity(command, '--help');
      expect(help.status, `${command} --help: ${help.stderr}`).toBe(0);
      expect(help.stdout).toContain(`Usage: positivity ${command}`);
    }
  }, 180_000);
});
