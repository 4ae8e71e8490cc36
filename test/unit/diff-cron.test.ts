// The diff engine's planner for cron jobs: what the worker's scheduler should hold, given the
// applied state, the answer and what it holds now (`scheduled`: name → cron_job_id).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { plan } from '../../src/diff/plan.ts';
import { EMPTY_APPLIED } from '../../src/diff/types.ts';
import { applied, cron, host, info, summary } from '../helpers/diff-builders.ts';

describe('cron jobs', () => {
  const backup = cron('backup', { cron_job_id: 3 });
  const clean = cron('clean', { cron_job_id: 1, schedule: '@daily' });
  const paused = cron('paused', { cron_job_id: 2, running: false });
  const state = applied({ device_group_id: 2, cron_jobs: [backup, clean, paused] });
  const same = info({ device_group_id: 2, cron_jobs: [backup, clean, paused] });

  test('a new running job on the first config is scheduled; a stopped one is not', () => {
    const { steps, next } = plan(EMPTY_APPLIED, info({ device_group_id: 1, cron_jobs: [backup, paused] }), host());
    assert.deepEqual(steps, [{ type: 'schedule-cron', cronJob: 'backup', config: backup }]);
    assert.deepEqual(next.cron_jobs, { backup, paused });
  });

  test('a job already scheduled from the same id: nothing', () => {
    const { steps } = plan(state, same, host(), { backup: 3, clean: 1 });
    assert.deepEqual(steps, []);
  });

  test('an id bump reschedules the job with its new config', () => {
    const changed = cron('backup', { cron_job_id: 4, schedule: '0 3 * * *', docker_image: 'registry.local/backup:2' });
    const { steps, next } = plan(state, info({ device_group_id: 2, cron_jobs: [changed, clean, paused] }), host(), { backup: 3, clean: 1 });
    assert.deepEqual(steps, [{ type: 'schedule-cron', cronJob: 'backup', config: changed }]);
    assert.deepEqual(next.cron_jobs.backup, changed);
  });

  test('running false: unscheduled if it was scheduled', () => {
    const stopped = cron('backup', { cron_job_id: 4, running: false });
    const { steps } = plan(state, info({ device_group_id: 2, cron_jobs: [stopped, clean, paused] }), host(), { backup: 3, clean: 1 });
    assert.deepEqual(summary(steps), ['unschedule-cron backup']);
  });

  test('running false and not scheduled: nothing', () => {
    const stopped = cron('paused', { cron_job_id: 5, running: false });
    const { steps } = plan(state, info({ device_group_id: 2, cron_jobs: [backup, clean, stopped] }), host(), { backup: 3, clean: 1 });
    assert.deepEqual(steps, []);
  });

  test('a stopped job started again (id bump) is scheduled', () => {
    const started = cron('paused', { cron_job_id: 3 });
    const { steps } = plan(state, info({ device_group_id: 2, cron_jobs: [backup, clean, started] }), host(), { backup: 3, clean: 1 });
    assert.deepEqual(summary(steps), ['schedule-cron paused#3']);
  });

  test('removed from the group (device_group_id bump): unscheduled', () => {
    const { steps, next } = plan(state, info({ device_group_id: 3, cron_jobs: [clean, paused] }), host(), { backup: 3, clean: 1 });
    assert.deepEqual(summary(steps), ['unschedule-cron backup']);
    assert.deepEqual(Object.keys(next.cron_jobs), ['clean', 'paused']);
  });

  test('added to the group (device_group_id bump): scheduled', () => {
    const fresh = cron('fresh');
    const { steps } = plan(state, info({ device_group_id: 3, cron_jobs: [backup, clean, paused, fresh] }), host(), { backup: 3, clean: 1 });
    assert.deepEqual(summary(steps), ['schedule-cron fresh#1']);
  });

  test('the scheduler is empty after a worker restart: every running job is scheduled again', () => {
    const { steps } = plan(state, same, host(), {});
    assert.deepEqual(summary(steps), ['schedule-cron backup#3', 'schedule-cron clean#1']);
    const { steps: offline } = plan(state, null, host());
    assert.deepEqual(summary(offline), ['schedule-cron backup#3', 'schedule-cron clean#1']);
  });

  test('a stale cron_job_id changes nothing', () => {
    const older = cron('backup', { cron_job_id: 2, schedule: '* * * * *' });
    const { steps, next } = plan(state, info({ device_group_id: 2, cron_jobs: [older, clean, paused] }), host(), { backup: 3, clean: 1 });
    assert.deepEqual(steps, []);
    assert.deepEqual(next, state);
  });

  test('a job gone from a stale answer (no device_group_id bump) stays scheduled', () => {
    const { steps, next } = plan(state, info({ device_group_id: 1, cron_jobs: [clean] }), host(), { backup: 3, clean: 1 });
    assert.deepEqual(steps, []);
    assert.deepEqual(next, state);
  });

  test('a job the scheduler holds but nobody knows is unscheduled', () => {
    const { steps } = plan(state, same, host(), { backup: 3, clean: 1, ghost: 7 });
    assert.deepEqual(summary(steps), ['unschedule-cron ghost']);
  });

  test('a job re-created on the manager (lower id, device_group_id bump) is rescheduled', () => {
    const recreated = cron('backup', { cron_job_id: 1, schedule: '@hourly' });
    const { steps } = plan(state, info({ device_group_id: 3, cron_jobs: [recreated, clean, paused] }), host(), { backup: 3, clean: 1 });
    assert.deepEqual(steps, [{ type: 'schedule-cron', cronJob: 'backup', config: recreated }]);
  });

  test('a job re-created with the same id but a new config (device_group_id bump) is rescheduled', () => {
    const recreated = cron('backup', { cron_job_id: 3, schedule: '@hourly', docker_image: 'registry.local/other:1' });
    const { steps, next } = plan(state, info({ device_group_id: 4, cron_jobs: [recreated, clean, paused] }), host(), { backup: 3, clean: 1 });
    assert.deepEqual(next.cron_jobs.backup, recreated);
    assert.deepEqual(steps, [{ type: 'schedule-cron', cronJob: 'backup', config: recreated }]);
  });
});
