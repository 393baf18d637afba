// Every migration, imported statically so bundlers (the Lambda build) include them. Append new ones here;
// names sort in the order they run. Landed ones are frozen, names included: record a new one's checksum in
// test/fixtures/landed-migrations.json (test/unit/landed-migrations.test.ts).
import type { Migration } from 'kysely';
import * as initialSchema from './2026-11-25T1200_initial_schema.js';
import * as rateLimits from './2026-11-25T1310_rate_limits.js';
import * as plannerOrderIndex from './2026-11-25T1320_planner_order_index.js';
import * as retentionIndexes from './2026-11-25T1350_retention_indexes.js';
import * as localOutbox from './2026-11-25T1360_local_outbox.js';
import * as plannerScheduleOrderIndex from './2026-11-25T1370_planner_schedule_order_index.js';
import * as deliveryReplacementReasons from './2026-12-01T0900_delivery_replacement_reasons.js';
import * as webhookFunctions from './2026-12-01T0930_webhook_functions.js';
import * as quotaPerLocalDate from './2026-12-01T1100_quota_per_local_date.js';
import * as statusLimitPlan from './2026-12-01T1200_status_limit_plan.js';
import * as messageStatuses from './2026-12-01T1500_message_statuses.js';
import * as inboundDedupeByRow from './2026-12-01T1600_inbound_dedupe_by_row.js';
import * as statusCallbackHotPath from './2026-12-01T1700_status_callback_hot_path.js';
import * as inboundReplyToken from './2026-12-01T1800_inbound_reply_token.js';
import * as pendingExpiry from './2026-12-01T1900_pending_expiry.js';

export const migrations: Record<string, Migration> = {
  '2026-11-25T1200_initial_schema': initialSchema,
  '2026-11-25T1310_rate_limits': rateLimits,
  '2026-11-25T1320_planner_order_index': plannerOrderIndex,
  '2026-11-25T1350_retention_indexes': retentionIndexes,
  '2026-11-25T1360_local_outbox': localOutbox,
  '2026-11-25T1370_planner_schedule_order_index': plannerScheduleOrderIndex,
  '2026-12-01T0900_delivery_replacement_reasons': deliveryReplacementReasons,
  '2026-12-01T0930_webhook_functions': webhookFunctions,
  '2026-12-01T1100_quota_per_local_date': quotaPerLocalDate,
  '2026-12-01T1200_status_limit_plan': statusLimitPlan,
  '2026-12-01T1500_message_statuses': messageStatuses,
  '2026-12-01T1600_inbound_dedupe_by_row': inboundDedupeByRow,
  '2026-12-01T1700_status_callback_hot_path': statusCallbackHotPath,
  '2026-12-01T1800_inbound_reply_token': inboundReplyToken,
  '2026-12-01T1900_pending_expiry': pendingExpiry,
};
