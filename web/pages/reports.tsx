// Reports: GET /api/v2/reports one server page at a time, filtered on the server (device,
// group, creation time, updated), each report's full JSON on demand.

import { useState } from 'preact/hooks';
import { query } from '../api.ts';
import { FilterForm, Loading, Pager, Table, formatTime, useCursors, useLoad } from '../components.tsx';
import { href, hrefWith, navigate, type Route } from '../router.ts';
import type { ReportPage } from '../types.ts';
import { AppBadge } from './devices.tsx';

const FILTERS = ['hostname', 'device_group', 'since', 'updated'] as const;
type Filters = Record<(typeof FILTERS)[number], string>;
const PAGE_SIZE = 50;

/** A datetime-local value ("2025-01-31T12:00") as Unix seconds; '' when empty or invalid. */
function seconds(local: string): string {
  const ms = local === '' ? NaN : new Date(local).getTime();
  return Number.isFinite(ms) ? String(Math.floor(ms / 1000)) : '';
}

export function ReportsPage({ route }: { route: Route }) {
  const filters = Object.fromEntries(FILTERS.map((k) => [k, route.params.get(k) ?? ''])) as Filters;
  const [input, setInput] = useState(filters);
  const set = (key: keyof Filters) => (e: Event) => setInput({ ...input, [key]: (e.currentTarget as HTMLInputElement).value });

  function apply() {
    navigate(hrefWith({ ...input, hostname: input.hostname.trim(), device_group: input.device_group.trim() }, 'reports'));
  }

  return (
    <section aria-labelledby="reports-title">
      <h1 id="reports-title">Reports</h1>
      <FilterForm label="Report filters" onApply={apply}>
        <label>
          Device
          <input name="hostname" value={input.hostname} placeholder="all devices" onInput={set('hostname')} />
        </label>
        <label>
          Device group
          <input name="device_group" value={input.device_group} placeholder="all groups" onInput={set('device_group')} />
        </label>
        <label>
          Made since
          <input name="since" type="datetime-local" value={input.since} onInput={set('since')} />
        </label>
        <label>
          Updated
          <select name="updated" value={input.updated} onChange={set('updated')}>
            <option value="">any</option>
            <option value="true">yes</option>
            <option value="false">no</option>
          </select>
        </label>
      </FilterForm>
      <ReportList key={JSON.stringify(filters)} filters={filters} />
    </section>
  );
}

function ReportList({ filters }: { filters: Filters }) {
  const pages = useCursors<string>();
  const since = seconds(filters.since);
  const loaded = useLoad(
    (api) =>
      api.get<ReportPage>(
        `/reports${query({
          hostname: filters.hostname,
          device_group: filters.device_group,
          report_creation_time: since,
          report_creation_time_filter: since === '' ? '' : 'gte',
          updated: filters.updated,
          page_size: PAGE_SIZE,
          last_id: pages.cursor,
        })}`,
      ),
    [pages.cursor],
  );
  const next = loaded.data?.last_id?.$oid ?? null;
  return (
    <>
      <Loading loaded={loaded}>
        {(page) =>
          page.data === null ? (
            <p class="empty-state">{pages.page === 1 ? 'No report matches.' : 'No more reports.'}</p>
          ) : (
            <Table columns={['Made', 'Device', 'Device group', 'Updated', 'Apps', 'Report']}>
              <tbody>
                {page.data.map((r) => (
                  <tr key={r._id.$oid}>
                    <td>{formatTime(r.report_creation_time)}</td>
                    <th scope="row">
                      <a href={href('devices', r.hostname)}>{r.hostname}</a>
                    </th>
                    <td>
                      <a href={href('groups', r.device_group)}>{r.device_group}</a>
                    </td>
                    <td>{r.updated === undefined ? '—' : r.updated ? 'yes' : 'no'}</td>
                    <td>
                      {Object.entries(r.apps_state ?? {}).map(([app, s]) => (
                        <AppBadge key={app} name={app} state={s.state} />
                      ))}
                    </td>
                    <td>
                      <details>
                        <summary>JSON</summary>
                        <pre>{JSON.stringify(r, null, 2)}</pre>
                      </details>
                    </td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )
        }
      </Loading>
      <Pager
        label="Report pages"
        page={pages.page}
        busy={loaded.loading}
        hasPrevious={pages.page > 1}
        hasNext={next !== null && (loaded.data?.data?.length ?? 0) >= PAGE_SIZE}
        onPrevious={pages.previous}
        onNext={() => next !== null && pages.next(next)}
      />
    </>
  );
}
