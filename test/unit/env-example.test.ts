// .env.example documents every setting the code reads, and only those.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { CONFIG_NAMES } from '../../src/config.js';

it('documents exactly the variables config.ts reads', () => {
  const text = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
  const documented = [...text.matchAll(/^([A-Z0-9_]+)=/gm)].map((m) => m[1]).sort();
  expect(documented).toEqual([...CONFIG_NAMES].sort());
});
