// Cron jobs: the list and one job's fields.

import { segment } from '../api.ts';
import { Fields, Loading, envVars, list, useLoad, yesNo } from '../components.tsx';
import { href } from '../router.ts';
import type { CronJob } from '../types.ts';
import { CronJobTable } from './groups.tsx';

export function CronJobsPage() {
  const loaded = useLoad((a) => a.all<CronJob>('cron_jobs'), []);
  return (
    <section aria-labelledby="cron-jobs-title">
      <h1 id="cron-jobs-title">Cron jobs</h1>
      <Loading loaded={loaded}>{(jobs) => (jobs.length === 0 ? <p class="empty-state">No cron job yet.</p> : <CronJobTable jobs={jobs} />)}</Loading>
    </section>
  );
}

export function CronJobPage({ name }: { name: string }) {
  const loaded = useLoad((a) => a.get<CronJob>(`/cron_jobs/${segment(name)}`), [name]);
  return (
    <section aria-labelledby="cron-job-title">
      <p class="crumbs">
        <a href={href('cron-jobs')}>Cron jobs</a> /
      </p>
      <h1 id="cron-job-title">{name}</h1>
      <Loading loaded={loaded}>
        {(job) => (
          <Fields
            rows={[
              ['Schedule', <span class="mono">{job.schedule}</span>],
              ['Docker image', <span class="mono">{job.docker_image}</span>],
              ['Running', yesNo(job.running)],
              ['cron_job_id', String(job.cron_job_id)],
              ['Environment', envVars(job.env_vars) || '—'],
              ['Networks', list(job.networks)],
              ['Volumes', list(job.volumes)],
              ['Devices', list(job.devices)],
              ['Privileged', yesNo(job.privileged)],
            ]}
          />
        )}
      </Loading>
    </section>
  );
}
