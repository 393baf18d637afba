// A webhook after an operator API request runs as it would have without it: the request's deadline turns
// nothing on for the rest of the process. Node (20, 22) runs an AsyncLocalStorage on promise hooks, and
// once they are on every later promise in the process pays for them: 6–33% more node CPU per webhook
// (bench/webhooks-cpu.ts, `app` after one /api request against `app-fresh`). Its own file: the hooks, once
// on, stay on for the whole worker.
import { executionAsyncId } from 'node:async_hooks';
import { expect, it } from 'vitest';
import { useTestDb } from '../support/db.js';
import {
  API_TOKEN,
  inboundParams,
  RecordingScheduler,
  signedForm,
  subscriberWithScheduledDelivery,
  testApp,
} from '../support/webhook-doubles.js';

const t = useTestDb();
const PHONE = '+12125550123';

/** A promise's continuation runs under the promise's own async id only while promise hooks are on. */
async function promiseHooksOn(): Promise<boolean> {
  await null;
  return executionAsyncId() !== 0;
}

/** Records, on the webhook's own path (a STOP removing its schedule), whether promise hooks are on. */
class ProbingScheduler extends RecordingScheduler {
  readonly hooksOn: boolean[] = [];
  override async cancel(deliveryId: string): Promise<void> {
    this.hooksOn.push(await promiseHooksOn());
    return super.cancel(deliveryId);
  }
}

it('a STOP after an /api request runs with no promise hooks on', async () => {
  // Prepare: a warm instance that has answered one operator request.
  expect(await promiseHooksOn(), 'something in this test process turned promise hooks on already').toBe(
    false,
  );
  const scheduler = new ProbingScheduler();
  const app = testApp({ db: t.db(), scheduler });
  await subscriberWithScheduledDelivery(t.db(), PHONE);
  const api = await app.request('/api/subscribers', { headers: { authorization: `Bearer ${API_TOKEN}` } });
  expect(api.status).toBe(200);

  // Act
  const { body, headers } = signedForm('/twilio/inbound', inboundParams(PHONE, 'STOP'));
  const stop = await app.request('/twilio/inbound', { method: 'POST', body, headers });

  // Assess: the STOP removed its schedule, and did so with the hooks off.
  expect(stop.status).toBe(200);
  expect(scheduler.cancelled).toHaveLength(1);
  expect(scheduler.hooksOn).toEqual([false]);
});
