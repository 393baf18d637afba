// The planner settings integration tests start from: the default 12:00–17:00 window, a 26-hour horizon,
// and limits (quota, pace, OpenAI) far above what a test's few subscribers need.
import type { PlannerSettings } from '../../src/services/plan-day.js';

export const PLANNER_TEST_SETTINGS: PlannerSettings = {
  SEND_WINDOW_START: 12 * 60,
  SEND_WINDOW_END: 17 * 60,
  PLANNER_HORIZON_HOURS: 26,
  TWILIO_MESSAGES_PER_DAY: 1000,
  TWILIO_MESSAGES_PER_SECOND: 1,
  OPENAI_REQUESTS_PER_MIN: 50,
  OPENAI_TOKENS_PER_MIN: 10_000,
  OPENAI_EXPECTED_TOKENS_PER_MESSAGE: 250,
};
