// Cron jobs: the list, creating one, and one job's fields; editing it (only what changed is
// sent, PATCH /cron_jobs/<name>/update) and deleting it, each confirmed first.

import { useState } from 'preact/hooks';
import { segment } from '../api.ts';
import { DeleteButton, EnvValues, Fields, FormToggle, Heading, Loading, list, usePage, yesNo } from '../components.tsx';
import { ContainerFormCard } from '../container-form.tsx';
import { cannotChange, cannotCreate, useMe } from '../permissions.ts';
import { href } from '../router.ts';
import type { CronJob } from '../types.ts';
import { CronJobTable } from './groups.tsx';

export function CronJobsPage() {
  const { loaded, dialog, confirm, notice, done } = usePage((a) => a.all<CronJob>('cron_jobs'), []);
  const [creating, setCreating] = useState(false);
  const me = useMe();

  return (
    <section aria-labelledby="cron-jobs-title">
      <Heading id="cron-jobs-title" title="Cron jobs">
        <FormToggle open={creating} set={setCreating} primary denied={cannotCreate(me, 'cron_jobs')}>
          New cron job
        </FormToggle>
      </Heading>
      {notice}
      {creating ? <ContainerFormCard kind="cron job" confirm={confirm} done={(text) => (setCreating(false), done(`${text} Add it to a device group to run it.`))} /> : null}
      <Loading loaded={loaded}>{(jobs) => (jobs.length === 0 ? <p class="empty-state">No cron job yet.</p> : <CronJobTable jobs={jobs} />)}</Loading>
      {dialog}
    </section>
  );
}

export function CronJobPage({ name }: { name: string }) {
  const { loaded, dialog, confirm, notice, done } = usePage((a) => a.get<CronJob>(`/cron_jobs/${segment(name)}`), [name]);
  const [editing, setEditing] = useState(false);
  const denied = cannotChange(useMe(), 'cron_jobs', name);
  return (
    <section aria-labelledby="cron-job-title">
      <Heading id="cron-job-title" title={name} back={{ href: href('cron-jobs'), label: 'Cron jobs' }}>
        <FormToggle open={editing} set={setEditing} denied={denied}>
          Edit
        </FormToggle>
        <DeleteButton
          confirm={confirm}
          kind="cron_jobs"
          name={name}
          what="cron job"
          message="It is removed from every device group that lists it, and their devices stop running it."
          back={href('cron-jobs')}
          denied={denied}
        />
      </Heading>
      {notice}
      <Loading loaded={loaded}>
        {(job) => (
          <>
            {editing ? <ContainerFormCard key={job.cron_job_id} kind="cron job" current={job} confirm={confirm} done={(text) => (setEditing(false), done(text))} close={() => setEditing(false)} /> : null}
            <Fields
              rows={[
                ['Schedule', <span class="mono">{job.schedule}</span>],
                ['Docker image', <span class="mono">{job.docker_image}</span>],
                ['Running', yesNo(job.running)],
                ['cron_job_id', String(job.cron_job_id)],
                ['Environment', <EnvValues env={job.env_vars} />],
                ['Networks', list(job.networks)],
                ['Volumes', list(job.volumes)],
                ['Devices', list(job.devices)],
                ['Privileged', yesNo(job.privileged)],
              ]}
            />
          </>
        )}
      </Loading>
      {dialog}
    </section>
  );
}
