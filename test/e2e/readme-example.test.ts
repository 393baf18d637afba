// README's command-line example, run as a newcomer copies it: each line of the ```sh block under
// "## Command line", in order, against a running one-machine server, must exit 0. A line whose comment
// says to text YES is followed by that text, as the dev page's "Text as this subscriber" sends it.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../../src/local/cli.js';
import { freePort } from '../../src/local/embedded-postgres.js';
import { textAsSubscriber } from '../../src/local/phone-simulator.js';
import { type LocalServer, startLocalServer } from '../../src/local/server.js';
import { useTestDb } from '../support/db.js';

const { url } = useTestDb();

/** The lines of the first ```sh block after the heading. */
async function exampleUnder(heading: string): Promise<string[]> {
  const readme = await readFile('README.md', 'utf8');
  const section = readme.split(`\n${heading}\n`)[1] ?? '';
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block.split('\n').filter((line) => line.trim() !== '');
}

describe('README "Command line" example', () => {
  let server: LocalServer;
  let dataDir: string;

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'dps-readme-'));
    server = await startLocalServer({
      env: { DATABASE_URL: url(), PORT: String(await freePort()), LOG_LEVEL: 'SILENT' },
      dataDir,
      outboxStepDelayMs: 20,
    });
  });
  afterEach(async () => {
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('runs as written: every command exits 0', { timeout: 60_000 }, async () => {
    const lines = await exampleUnder('## Command line');
    expect(lines.length).toBeGreaterThan(1);
    for (const line of lines) {
      const [command = '', comment = ''] = line.split('#');
      const [npx, bin, ...args] = command.trim().split(/\s+/);
      expect([npx, bin], line).toEqual(['npx', 'positivity']);

      const err: string[] = [];
      const code = await runCli(['node', 'positivity', ...args], {
        env: { DATABASE_URL: url(), DPS_DATA_DIR: dataDir, LOG_LEVEL: 'SILENT' },
        out: () => {},
        err: (text) => err.push(text),
      });
      expect(code, `${line}\n${err.join('\n')}`).toBe(0);

      if (/\bYES\b/.test(comment)) {
        const phone = args.find((arg) => arg.startsWith('+')) ?? '';
        expect(await textAsSubscriber(server.simulator, phone, 'YES')).toMatchObject({ status: 200 });
      }
    }
  });
});
