import { expect, it } from 'vitest';
import { onColdStart } from '../../src/handlers/cold-start.js';

it('builds once, shares the result, and retries a build that failed', async () => {
  let builds = 0;
  const deps = onColdStart(async () => {
    builds += 1;
    if (builds === 1) throw new Error('secret not filled in yet');
    return { build: builds };
  });
  expect(builds).toBe(0); // nothing happens at import time
  await expect(deps()).rejects.toThrow('secret not filled in yet');
  const [a, b] = await Promise.all([deps(), deps()]);
  expect(a).toEqual({ build: 2 });
  expect(b).toBe(a);
  expect(await deps()).toBe(a);
  expect(builds).toBe(2);
});
