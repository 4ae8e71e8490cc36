// Where the dashboard's assets come from when the manager runs from source: built from web/ on
// first use (esbuild, a dev dependency, loaded only then). The single executable's bundle
// replaces this module with the assets built at bundle time (build/web.ts: embedDashboard).

import type { DashboardAssets } from '../../build/web.ts';

export type { DashboardAssets };

export async function loadDashboardAssets(): Promise<DashboardAssets> {
  const { buildDashboard } = await import('../../build/web.ts');
  return buildDashboard();
}
