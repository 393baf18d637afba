// One-machine mode's generated tokens (.data/local-secrets.json): made on the first run only. Any other
// problem reading the file surfaces instead of silently replacing the tokens the server and CLI share.
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { localSecrets } from '../../src/local/runtime.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dps-local-secrets-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

it('generates the tokens on the first run (file not found), private to the user, and keeps them', async () => {
  const first = await localSecrets(dir);
  expect(first.TWILIO_AUTH_TOKEN).toMatch(/^[0-9a-f]{32}$/);
  expect(first.API_TOKEN.length).toBeGreaterThanOrEqual(24);
  expect((await stat(path.join(dir, 'local-secrets.json'))).mode & 0o777).toBe(0o600);
  expect(await localSecrets(dir)).toEqual(first);
});

it('surfaces a read error other than "not found" instead of generating new tokens', async () => {
  await mkdir(path.join(dir, 'local-secrets.json')); // reading a directory fails with EISDIR
  // The read's own error, not a failed attempt to write fresh tokens over it (syscall 'open').
  await expect(localSecrets(dir)).rejects.toMatchObject({ code: 'EISDIR', syscall: 'read' });
  expect((await stat(path.join(dir, 'local-secrets.json'))).isDirectory()).toBe(true);
});

it('refuses a damaged file, naming it, and leaves it as it was', async () => {
  const file = path.join(dir, 'local-secrets.json');
  await writeFile(file, '{"TWILIO_AUTH_TOKEN": "short"}');
  await expect(localSecrets(dir)).rejects.toThrow(`${file} is not a valid local secrets file`);
  expect(await readFile(file, 'utf8')).toBe('{"TWILIO_AUTH_TOKEN": "short"}');
});
