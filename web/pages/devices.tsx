// Devices: one server page at a time of GET /api/v2/devices (paged by hostname, filtered by
// group and by behind / up to date on the server), never the whole fleet; and one device.

import { useState } from 'preact/hooks';
import { query, segment } from '../api.ts';
import { Badge, Fields, FilterForm, Loading, Pager, Table, ago, formatTime, useCursors, useLoad } from '../components.tsx';
import { href, hrefWith, navigate, type Route } from '../router.ts';
import type { AppState, Device, DevicePage } from '../types.ts';

const PAGE_SIZES = ['25', '50', '100', '250'];

export function DevicesPage({ route }: { route: Route }) {
  const group = route.params.get('device_group') ?? '';
  const status = route.params.get('behind') ?? '';
  const size = PAGE_SIZES.includes(route.params.get('page_size') ?? '') ? route.params.get('page_size')! : '50';
  const [groupInput, setGroupInput] = useState(group);
  const [statusInput, setStatusInput] = useState(status);
  const [sizeInput, setSizeInput] = useState(size);

  function apply() {
    navigate(hrefWith({ device_group: groupInput.trim(), behind: statusInput, page_size: sizeInput === '50' ? '' : sizeInput }, 'devices'));
  }

  return (
    <section aria-labelledby="devices-title">
      <h1 id="devices-title">Devices</h1>
      <FilterForm label="Device filters" onApply={apply}>
        <label>
          Device group
          <input name="device_group" value={groupInput} placeholder="all groups" onInput={(e) => setGroupInput(e.currentTarget.value)} />
        </label>
        <label>
          Status
          <select name="behind" value={statusInput} onChange={(e) => setStatusInput(e.currentTarget.value)}>
            <option value="">all</option>
            <option value="true">behind</option>
            <option value="false">up to date</option>
          </select>
        </label>
        <label>
          Per page
          <select name="page_size" value={sizeInput} onChange={(e) => setSizeInput(e.currentTarget.value)}>
            {PAGE_SIZES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
      </FilterForm>
      <DeviceList key={`${group}|${status}|${size}`} group={group} status={status} size={size} />
    </section>
  );
}

function DeviceList({ group, status, size }: { group: string; status: string; size: string }) {
  const pages = useCursors<string>();
  const loaded = useLoad((api) => api.get<DevicePage>(`/devices${query({ device_group: group, behind: status, page_size: size, last_id: pages.cursor })}`), [pages.cursor]);
  const devices = loaded.data?.data ?? [];
  const next = loaded.data?.last_id ?? null;
  return (
    <>
      <Loading loaded={loaded}>
        {(page) =>
          page.data === null ? (
            <p class="empty-state">{pages.page === 1 ? 'No device has reported yet' : 'No more devices'}{group ? ` in ${group}` : ''}.</p>
          ) : devices.length === 0 ? (
            <p class="empty-state">No matching device on this page: the next page scans further.</p>
          ) : (
            <DeviceTable devices={devices} />
          )
        }
      </Loading>
      <Pager
        label="Device pages"
        page={pages.page}
        busy={loaded.loading}
        hasPrevious={pages.page > 1}
        // A page shorter than asked is the last, unless a status filter thinned it on the server.
        hasNext={next !== null && loaded.data?.data !== null && (status !== '' || devices.length >= Number(size))}
        onPrevious={pages.previous}
        onNext={() => next !== null && pages.next(next)}
      />
    </>
  );
}

export function StatusBadge({ device }: { device: Device }) {
  return device.behind ? <Badge tone="warn">behind</Badge> : <Badge tone="ok">up to date</Badge>;
}

function DeviceTable({ devices }: { devices: Device[] }) {
  return (
    <Table caption="Devices" columns={['Device', 'Device group', 'Last seen', 'Status', 'Why', 'Failing apps']}>
      <tbody>
        {devices.map((d) => (
          <tr key={d.hostname}>
            <th scope="row">
              <a href={href('devices', d.hostname)}>{d.hostname}</a>
            </th>
            <td>
              <a href={href('groups', d.device_group)}>{d.device_group}</a>
            </td>
            <td title={formatTime(d.last_seen)}>{ago(d.seconds_since_seen)}</td>
            <td>
              <StatusBadge device={d} />
            </td>
            <td class="why">
              {d.behind_reasons[0] ?? ''}
              {d.behind_reasons.length > 1 ? <span class="muted"> (+{d.behind_reasons.length - 1} more)</span> : null}
            </td>
            <td>{d.failing_apps.length === 0 ? <span class="muted">none</span> : d.failing_apps.map((f) => <AppBadge key={f.app} name={f.app} state={f.state} />)}</td>
          </tr>
        ))}
      </tbody>
    </Table>
  );
}

const TONES = { running: 'ok', stopped: 'off', starting: 'warn', restarting: 'warn', failed: 'bad' } as const;

export function AppBadge({ name, state }: { name: string; state: AppState['state'] }) {
  return (
    <Badge tone={TONES[state] ?? 'off'}>
      {name}: {state}
    </Badge>
  );
}

export function DevicePage({ hostname }: { hostname: string }) {
  const loaded = useLoad((api) => api.get<Device>(`/devices/${segment(hostname)}`), [hostname]);
  return (
    <section aria-labelledby="device-title">
      <p class="crumbs">
        <a href={href('devices')}>Devices</a> /
      </p>
      <h1 id="device-title">{hostname}</h1>
      <Loading loaded={loaded}>{(device) => <DeviceDetails device={device} />}</Loading>
    </section>
  );
}

function DeviceDetails({ device }: { device: Device }) {
  const apps = Object.entries(device.apps_state).sort(([a], [b]) => a.localeCompare(b));
  return (
    <>
      <Fields
        rows={[
          ['Device group', <a href={href('groups', device.device_group)}>{device.device_group}</a>],
          ['Status', <StatusBadge device={device} />],
          ['Last seen', `${ago(device.seconds_since_seen)} (${formatTime(device.last_seen)})`],
          ['Worker version', device.worker_version ?? '—'],
          ['Config applied', device.applied ? `device_group_id ${device.applied.device_group_id}, prune_id ${device.applied.prune_id}` : 'none reported'],
          ['Config current', device.current ? `device_group_id ${device.current.device_group_id}, prune_id ${device.current.prune_id}` : 'the group no longer exists'],
          ['Reports dropped', String(device.spool_dropped)],
          ['Reports', <a href={hrefWith({ hostname: device.hostname }, 'reports')}>reports of {device.hostname}</a>],
        ]}
      />
      <h2>Why behind</h2>
      {device.behind_reasons.length === 0 ? (
        <p class="muted">The device runs the current config.</p>
      ) : (
        <ul class="reasons">
          {device.behind_reasons.map((r) => (
            <li key={r}>{r}</li>
          ))}
        </ul>
      )}
      <h2>Apps on the device</h2>
      {apps.length === 0 ? (
        <p class="muted">The device reports no app.</p>
      ) : (
        <Table columns={['App', 'State', 'Containers', 'Restarts', 'app_id applied / current', 'Reason']}>
          <tbody>
            {apps.map(([name, s]) => (
              <tr key={name}>
                <th scope="row">
                  <a href={href('apps', name)}>{name}</a>
                </th>
                <td>
                  <AppBadge name={name} state={s.state} />
                </td>
                <td>
                  {s.running}/{s.desired}
                </td>
                <td>{s.restarts ?? 0}</td>
                <td>
                  {s.app_id} / {device.current?.apps[name] ?? '—'}
                </td>
                <td>{s.reason ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      )}
      <h2>Last error</h2>
      {device.last_error === null ? (
        <p class="muted">None reported.</p>
      ) : (
        <p class="error">
          {formatTime(device.last_error.at)}
          {device.last_error.app ? ` (app ${device.last_error.app})` : ''}: {device.last_error.message}
        </p>
      )}
    </>
  );
}
