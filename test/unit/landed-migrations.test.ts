// Migrations are frozen once landed, names included: a stage deployed at any commit of main recorded each one it
// ran by name and ran it as it was then. An edit never reaches such a stage, and a rename made Kysely refuse
// it (2026-12-01T1700, test/integration/migration-history.test.ts). test/fixtures/landed-migrations.json
// holds each landed migration's SHA-256, recorded when it lands.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.js';
import landed from '../fixtures/landed-migrations.json' with { type: 'json' };

const recorded: Record<string, string> = landed;

async function sha256Of(name: string): Promise<string> {
  const text = await readFile(new URL(`../../migrations/${name}.ts`, import.meta.url), 'utf8');
  return createHash('sha256').update(text.replaceAll('\r\n', '\n')).digest('hex');
}

describe('landed migrations', () => {
  it.each(Object.keys(recorded))('%s is still registered under that name', (name) => {
    // Renamed or removed: a stage that ran it is refused. Add a migration instead.
    expect(Object.keys(migrations)).toContain(name);
  });

  it.each(Object.keys(recorded))('%s is unchanged since it landed', async (name) => {
    // Changed: write a new migration that makes the change instead.
    expect(await sha256Of(name)).toBe(recorded[name]);
  });

  it('every registered migration has its checksum recorded (add a new one to the fixture as it lands)', async () => {
    const missing = Object.keys(migrations).filter((name) => !(name in recorded));
    expect(
      missing,
      `record: ${JSON.stringify(Object.fromEntries(await Promise.all(missing.map(async (n) => [n, await sha256Of(n)]))))}`,
    ).toEqual([]);
  });
});
