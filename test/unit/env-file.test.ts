// .env for npm start and the CLI: the file fills in what the environment does not set.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { loadEnvFile } from '../../src/local/env-file.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dps-env-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

it('adds what the environment does not set; the environment wins, even when set empty', async () => {
  const file = path.join(dir, '.env');
  await writeFile(
    file,
    '# comment\nPORT=4321\nLOG_LEVEL=DEBUG\nSERVICE_NAME="Kind Words"\nAPI_TOKEN=from-file\n',
  );
  const env: Record<string, string | undefined> = { LOG_LEVEL: 'WARN', API_TOKEN: '' };

  const added = loadEnvFile(file, env);

  expect(env).toEqual({ LOG_LEVEL: 'WARN', API_TOKEN: '', PORT: '4321', SERVICE_NAME: 'Kind Words' });
  expect(added.sort()).toEqual(['PORT', 'SERVICE_NAME']);
});

it('a missing .env is no error; an unreadable one says which file', () => {
  expect(loadEnvFile(path.join(dir, 'absent'), {})).toEqual([]);
  expect(() => loadEnvFile(dir, {})).toThrow(`could not read ${dir}`);
});
