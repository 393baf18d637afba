// The cleanup Lambda end to end: config from the environment, a real database, EMF on stdout.
import { expect, it, vi } from 'vitest';
import { captureStdout } from '../support/capture-stdout.js';
import { useTestDb } from '../support/db.js';

const { db, url } = useTestDb();
const lines = captureStdout();

it('runs the cleanup and publishes the database size as EMF', async () => {
  const { id } = await db()
    .insertInto('subscribers')
    .values({ phone: '+14155550123', time_zone: 'UTC' })
    .returning('id')
    .executeTakeFirstOrThrow();
  await db()
    .insertInto('inbound_messages')
    .values({
      message_sid: 'SMold',
      from_phone: '+14155550123',
      body: 'old',
      classification: 'other',
      subscriber_id: id,
      received_at: new Date(Date.now() - 100 * 86_400_000),
    } as never)
    .execute();
  vi.stubEnv('DATABASE_URL', url());
  const { handler } = await import('../../src/handlers/cleanup.js');

  const result = await handler(
    { 'detail-type': 'Scheduled Event', time: '2026-11-25T03:00:00Z' },
    { getRemainingTimeInMillis: () => 600_000 },
  );

  expect(result).toMatchObject({ inboundMessagesDeleted: 1, complete: true });
  const emf = lines.map((l) => JSON.parse(l)).find((l) => l._aws);
  expect(emf?._aws.CloudWatchMetrics[0]).toMatchObject({
    Namespace: 'DailyPositivity',
    Metrics: [{ Name: 'DatabaseSizeBytes', Unit: 'Bytes' }],
  });
  expect(emf?.DatabaseSizeBytes).toBe(result.databaseSizeBytes);
  await expect(handler({ time: 'yesterday' })).rejects.toThrow(/time/);
  vi.unstubAllEnvs();
});
