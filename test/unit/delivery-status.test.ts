import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { foldStatuses, shouldAdvance } from '../../src/domain/delivery-status.js';

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

describe('shouldAdvance', () => {
  it.each([
    [null, 'queued', true],
    ['queued', 'sending', true],
    ['sending', 'sent', true],
    ['sent', 'delivered', true],
    ['sent', 'undelivered', true],
    ['accepted', 'failed', true],
    ['delivered', 'sent', false],
    ['undelivered', 'sent', false],
    ['failed', 'sending', false],
    ['delivered', 'failed', false],
    ['failed', 'delivered', false],
    ['sent', 'sent', false],
    ['sent', 'queued', false],
    ['delivered', 'read', true],
    ['undelivered', 'read', false],
    ['sent', 'mystery_status', false],
  ])('%s then %s → %s', (current, next, expected) => expect(shouldAdvance(current, next)).toBe(expected));
});

describe('out-of-order callbacks', () => {
  it.each([
    [['queued', 'sending', 'sent', 'delivered'], 'delivered'],
    [['accepted', 'queued', 'sending', 'sent', 'undelivered'], 'undelivered'],
    [['queued', 'sending', 'failed'], 'failed'],
  ])('every permutation of %j ends on %s', (sequence, final) => {
    for (const order of permutations(sequence)) expect(foldStatuses(order, 'queued')).toBe(final);
  });

  it('repeats anywhere never change the outcome (property)', () => {
    const sequence = ['queued', 'sending', 'sent', 'delivered'];
    fc.assert(
      fc.property(
        fc.shuffledSubarray(sequence, { minLength: 4, maxLength: 4 }),
        fc.array(fc.constantFrom(...sequence)),
        (order, repeats) => {
          expect(foldStatuses([...order, ...repeats])).toBe('delivered');
        },
      ),
    );
  });
});
