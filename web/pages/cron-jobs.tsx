// Cron jobs: the list, creating one, and one job's fields; editing it (only what changed is
// sent, PATCH /cron_jobs/<name>/update) and deleting it, each confirmed first.

import { useState } from 'preact/hooks';
import { segment } from '../api.ts';
import { DeleteButton, EnvValues, Fields, Loading, list, useApi, useConfirm, useLoad, useNotice, yesNo } from '../components.tsx';
import { ContainerFormCard, EditContainerForm } from '../container-form.tsx';
import { EMPTY_FORM, changedFields, cronJobBody, cronJobForm, type ContainerForm } from '../forms.ts';
import { href } from '../router.ts';
import type { CronJob } from '../types.ts';
import { CronJobTable } from './groups.tsx';

export function CronJobsPage() {
  const api = useApi();
  const loaded = useLoad((a) => a.all<CronJob>('cron_jobs'), []);
  const [dialog, confirm] = useConfirm();
  const [notice, say] = useNotice();
  const [creating, setCreating] = useState(false);

  function create(f: ContainerForm, name: string) {
    const body = cronJobBody(f);
    confirm({
      title: `Create cron job ${name}?`,
      message: `${body.docker_image} on the schedule ${body.schedule}${f.running ? '' : ' (stopped)'}. No device runs it until a device group lists it.`,
      confirm: 'Create cron job',
      run: async () => {
        await api.post(`/cron_jobs/${segment(name)}`, body);
        setCreating(false);
        say(`Cron job ${name} created. Add it to a device group to run it.`);
        loaded.reload();
      },
    });
  }

  return (
    <section aria-labelledby="cron-jobs-title">
      <div class="heading">
        <h1 id="cron-jobs-title">Cron jobs</h1>
        <div class="buttons">
          <button type="button" class="primary" aria-expanded={creating} onClick={() => setCreating(!creating)}>
            New cron job
          </button>
        </div>
      </div>
      {notice}
      {creating ? <ContainerFormCard kind="cron job" title="New cron job" initial={EMPTY_FORM} withName submitLabel="Create cron job" submit={create} /> : null}
      <Loading loaded={loaded}>{(jobs) => (jobs.length === 0 ? <p class="empty-state">No cron job yet.</p> : <CronJobTable jobs={jobs} />)}</Loading>
      {dialog}
    </section>
  );
}

export function CronJobPage({ name }: { name: string }) {
  const loaded = useLoad((a) => a.get<CronJob>(`/cron_jobs/${segment(name)}`), [name]);
  const [dialog, confirm] = useConfirm();
  const [notice, say] = useNotice();
  const [editing, setEditing] = useState(false);
  const done = (text: string) => {
    say(text);
    loaded.reload();
  };
  return (
    <section aria-labelledby="cron-job-title">
      <p class="crumbs">
        <a href={href('cron-jobs')}>Cron jobs</a> /
      </p>
      <div class="heading">
        <h1 id="cron-job-title">{name}</h1>
        <div class="buttons">
          <button type="button" aria-expanded={editing} onClick={() => setEditing(!editing)}>
            Edit
          </button>
          <DeleteButton
            confirm={confirm}
            kind="cron_jobs"
            name={name}
            what="cron job"
            message="It is removed from every device group that lists it, and their devices stop running it."
            back={href('cron-jobs')}
          />
        </div>
      </div>
      {notice}
      <Loading loaded={loaded}>
        {(job) => (
          <>
            {editing ? (
              <EditContainerForm
                key={job.cron_job_id}
                kind="cron job"
                name={name}
                initial={cronJobForm(job)}
                changes={(f) => changedFields(cronJobBody(f), job)}
                path={`/cron_jobs/${segment(name)}/update`}
                effect="The devices of the groups that list it run the new version from its next start."
                confirm={confirm}
                done={done}
                close={() => setEditing(false)}
              />
            ) : null}
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
