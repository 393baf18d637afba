// What `cdk destroy` leaves behind and what two stages in one account and Region share: every named resource
// is deleted with its stack (so the stage can be deployed again at once) and is named per stage (so another
// stage can be created beside it).
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { resources, synthesize } from './support.js';

let dev: Template;
beforeAll(() => {
  dev = synthesize().template();
});

describe('teardown', () => {
  it('deletes the schedule group, and with it its pending schedules, on stack delete and on replacement', () => {
    const groups = Object.values(resources(dev, 'AWS::Scheduler::ScheduleGroup'));
    expect(groups).toHaveLength(1);
    const [group] = groups;
    expect(group?.Properties?.Name).toBe('daily-positivity-dev');
    // CloudFormation's default when no policy is written is Delete.
    expect(group?.DeletionPolicy ?? 'Delete').toBe('Delete');
    expect(group?.UpdateReplacePolicy ?? 'Delete').toBe('Delete');
  });
});
