import { describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';

describe('eventually (e2e polling helper)', () => {
  it('returns the first value that satisfies the condition', async () => {
    // Prepare: a reading that becomes ready on the third read.
    let reads = 0;
    const read = async () => ++reads;

    // Act
    const value = await eventually('the third read', read, (n) => n >= 3, { everyMs: 1 });

    // Assess
    expect(value).toBe(3);
    expect(reads).toBe(3);
  });

  it('throws on timeout, naming what it waited for and the last value, instead of returning it', async () => {
    const read = async () => ({ status: 'queued' });

    await expect(
      eventually('the message to be delivered', read, (m) => m.status === 'delivered', {
        ms: 30,
        everyMs: 5,
      }),
    ).rejects.toThrow(
      /^timed out after 30 ms waiting for the message to be delivered; last read: \{"status":"queued"\}$/,
    );
  });
});
