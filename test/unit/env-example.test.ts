// .env.example documents every variable the code reads, and only those: config.ts's settings and
// secrets, and the one-machine mode's own (where its data lives).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { CONFIG_NAMES } from '../../src/config.js';
import { dataDirectory, LOCAL_MODE_NAMES } from '../../src/local/local-database.js';

const text = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');

it('documents exactly the variables the code reads', () => {
  const documented = [...text.matchAll(/^([A-Z0-9_]+)=/gm)].map((m) => m[1]).sort();
  expect(documented).toEqual([...CONFIG_NAMES, ...LOCAL_MODE_NAMES].sort());
});

// DPS_DATA_DIR was read by dataDirectory() but missing from .env.example (review 6, D9); empty, as a copy
// of .env.example leaves it, must mean ./.data, not the working directory itself.
it('an empty DPS_DATA_DIR means ./.data, like an unset one', () => {
  expect(dataDirectory({ DPS_DATA_DIR: '' })).toBe(path.resolve('.data'));
  expect(dataDirectory({})).toBe(path.resolve('.data'));
  expect(dataDirectory({ DPS_DATA_DIR: '/tmp/x' })).toBe('/tmp/x');
});

// It said an empty RATE_LIMIT_STORE means Redis when REDIS_URL is set, but npm start uses memory (review 6, D9).
it('says what an empty RATE_LIMIT_STORE means for npm start: memory', () => {
  const comment = text.slice(0, text.indexOf('\nRATE_LIMIT_STORE='));
  const block = comment.slice(comment.lastIndexOf('\n\n'));
  expect(block).toMatch(/npm start and the CLI: memory/);
});
