import 'reflect-metadata';
import { describe, it, expect, jest } from '@jest/globals';

// A @nestjs/schedule whose decorators store their metadata in some other way (here: none at all). The adopter must
// refuse it at boot rather than misread it.
jest.unstable_mockModule('@nestjs/schedule', () => ({
  Cron: () => () => undefined,
  Interval: () => () => undefined,
  Timeout: () => () => undefined,
  ScheduleExplorer: class {},
  SchedulerRegistry: class {},
}));
const { NestScheduleAdopter } = await import('../../lib/nest/nest-schedule.adopter.js');

describe('adopting an unknown @nestjs/schedule', () => {
  it('fails with what to install when its decorators do not write the metadata Uno Jobs reads', () => {
    expect(() => new NestScheduleAdopter({ timeouts: 'instance', deployId: null, timeZone: 'UTC' })).toThrow(
      'This version of @nestjs/schedule stores its decorator metadata in a way Uno Jobs does not know. Install @nestjs/schedule 12',
    );
  });
});
