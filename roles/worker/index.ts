// The worker's composition: config -> state, engine, manager client -> executor, cron
// scheduler, health monitor, sync loop, metrics (with --metrics-port); and its lifecycle.

import { cpus, totalmem } from 'node:os';
import { ManagerClient } from '../../src/client/manager.ts';
import { systemClock, type Clock } from '../../src/clock.ts';
import type { WorkerConfig } from '../../src/config/worker.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { CronScheduler } from './cron.ts';
import { Engine } from './engine.ts';
import { Executor } from './executor.ts';
import { HealthMonitor } from './health.ts';
import { RegistryAuths } from './registry.ts';
import { WorkerState } from './state.ts';
import { SyncLoop } from './sync.ts';
import { Reporting } from './reporting.ts';
import { collectReport, CpuSampler, idsOfApplied } from './report.ts';
import { HttpReportTransport } from '../../src/reports/http.ts';
import type { ReportTransport } from '../../src/reports/transport.ts';
import { serveMetricsLogged, type MetricsServer } from '../../src/metrics/server.ts';
import { WorkerMetrics } from './metrics.ts';

export interface Worker {
  state: WorkerState;
  engine: Engine;
  sync: SyncLoop;
  executor: Executor;
  scheduler: CronScheduler;
  health: HealthMonitor;
  /** Null when reporting is off (--report-transport none). */
  reporting: Reporting | null;
  /** Null without a metrics listener (config.metrics unset). */
  metrics: WorkerMetrics | null;
  /** The metrics listener once it listens; null without one, or when it could not listen (logged). */
  metricsServer: Promise<MetricsServer | null>;
  /** Stops the loops; containers keep running (that is the point). */
  stop(): Promise<void>;
}

export interface WorkerDeps {
  config: WorkerConfig;
  log: Logger;
  engine: Engine;
  state: WorkerState;
  onFatal: (err: unknown) => void;
  clock?: Clock;
  host?: { cpuCores: number; memoryMb: number };
  engineGraceMs?: number;
  /** The Kafka transport (runWorker makes it); http is made here from the manager client. */
  reportTransport?: ReportTransport;
}

export function hostFacts(): { cpuCores: number; memoryMb: number } {
  return { cpuCores: cpus().length, memoryMb: Math.floor(totalmem() / (1024 * 1024)) };
}

export function createWorker(deps: WorkerDeps): Worker {
  const { config, log, engine, state, onFatal } = deps;
  const clock = deps.clock ?? systemClock;
  const registry = RegistryAuths.load(config.registry);
  const scheduler = new CronScheduler({ engine, registry, state, log, clock, onFatal });
  const client = new ManagerClient({
    baseUrl: config.managerUrl,
    auth: config.auth,
    requestTimeoutMs: config.requestTimeoutSeconds * 1000,
    ...(config.managerCa ? { ca: config.managerCa } : {}),
  });
  const stopping = new AbortController();
  const host = deps.host ?? hostFacts();
  const metrics = config.metrics ? new WorkerMetrics(state, clock) : null;
  const restarted = metrics ? { restarted: metrics.restarted } : {};
  const executor = new Executor({
    engine,
    registry,
    scheduler,
    state,
    log,
    clock,
    maxRestartWaitSeconds: config.maxRestartWaitSeconds,
    rollingSettleSeconds: config.rollingSettleSeconds,
    signal: stopping.signal,
    ...restarted,
  });
  const reporting = makeReporting(deps, client, executor, host, clock);
  const sync = new SyncLoop({
    deviceGroup: config.deviceGroup,
    client,
    state,
    engine,
    executor,
    scheduler,
    log,
    clock,
    host,
    checkInMs: config.checkInSeconds * 1000,
    longPollWaitSeconds: config.longPollWaitSeconds,
    engineGraceMs: deps.engineGraceMs ?? 60_000,
    onFatal,
    onReconciled: () => reporting?.nudge(),
  });
  const health = new HealthMonitor({ engine, state, log, clock, ...restarted });
  const healthTimer = setInterval(() => {
    health.checkOnce().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'health check failed'));
  }, config.healthIntervalSeconds * 1000);
  healthTimer.unref();
  reporting?.start();
  sync.start();
  metrics?.watch({ lastFetchAt: () => sync.lastFetchAt, appsFailed: () => executor.failed().size });
  const metricsServer = metrics && config.metrics ? serveMetricsLogged(metrics.registry, config.metrics, log) : Promise.resolve(null);
  return {
    state,
    engine,
    sync,
    executor,
    scheduler,
    health,
    reporting,
    metrics,
    metricsServer,
    async stop() {
      clearInterval(healthTimer);
      await (await metricsServer)?.close();
      stopping.abort();
      await sync.stop();
      await scheduler.stop();
      await reporting?.stop();
      client.close();
    },
  };
}

function makeReporting(
  deps: WorkerDeps,
  client: ManagerClient,
  executor: Executor,
  host: { cpuCores: number; memoryMb: number },
  clock: Clock,
): Reporting | null {
  const { config, state, engine, log, onFatal } = deps;
  const settings = config.reporting;
  if (settings.transport === 'none') return null;
  let transport: ReportTransport;
  if (settings.transport === 'http') transport = new HttpReportTransport(client);
  else if (deps.reportTransport) transport = deps.reportTransport;
  else throw new Error('the kafka report transport must be given to createWorker');
  const cpu = new CpuSampler();
  return new Reporting({
    state,
    transport,
    collect: (updated) =>
      collectReport(
        { engine, state, failures: () => executor.failed(), cpu, host, deviceName: config.deviceName, deviceGroup: config.deviceGroup, now: () => clock.now() },
        updated,
      ),
    fingerprint: () => ({
      ids: JSON.stringify(idsOfApplied(state.applied())),
      rest: JSON.stringify([...executor.failed()].map(([app, f]) => [app, f.reason])),
    }),
    log,
    clock,
    intervalMs: config.checkInSeconds * 1000,
    minIntervalMs: settings.minIntervalSeconds * 1000,
    onUpdateOnly: settings.onUpdateOnly,
    spoolMax: settings.spoolMax,
    onFatal,
  });
}

/** `nebula worker`: runs until SIGTERM/SIGINT. */
export async function runWorker(config: WorkerConfig): Promise<void> {
  const log = createLogger(config.logLevel, 'nebula-worker');
  const fatal = (err: unknown) => {
    log.fatal({ err }, 'fatal: ending the worker so that it restarts clean (containers keep running)');
    process.exit(70);
  };
  let state: WorkerState;
  try {
    state = WorkerState.open(config.stateDir, { log });
  } catch (err) {
    log.fatal({ err, state_dir: config.stateDir }, 'cannot open the worker state');
    process.exit(70);
  }
  let engine: Engine;
  try {
    const connected = await Engine.connect(config.dockerSocket);
    engine = connected.engine;
    log.info({ socket: config.dockerSocket, engine: connected.version, api: connected.apiVersion }, 'connected to the Docker engine');
  } catch (err) {
    log.fatal({ err, socket: config.dockerSocket }, 'cannot reach the Docker engine');
    process.exit(70);
  }
  let reportTransport: ReportTransport | undefined;
  let settings = config;
  if (config.reporting.transport === 'kafka' && config.reporting.kafka) {
    try {
      // The Kafka client is loaded only by the workers that report through Kafka.
      const { KafkaReportTransport } = await import('../../src/reports/kafka.ts');
      reportTransport = new KafkaReportTransport(config.reporting.kafka, { clientId: `nebula-worker-${config.deviceName}`, log });
    } catch (err) {
      // A transport that cannot even be set up (an unreadable TLS file): the original's REPORTING_FAIL_HARD.
      if (config.reporting.failHard) {
        log.fatal({ err: (err as Error).message }, 'cannot set up the Kafka report transport (reporting_fail_hard)');
        process.exit(2);
      }
      log.error({ err: (err as Error).message }, 'cannot set up the Kafka report transport: running without reports');
      settings = { ...config, reporting: { ...config.reporting, transport: 'none' } };
    }
  }
  const worker = createWorker({ config: settings, log, engine, state, onFatal: fatal, ...(reportTransport ? { reportTransport } : {}) });
  log.info(
    { device_group: config.deviceGroup, device: config.deviceName, manager: config.managerUrl, reports: settings.reporting.transport },
    'nebula worker started',
  );
  const stop = async (signal: string) => {
    log.info({ signal }, 'stopping (containers keep running)');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    await worker.stop();
    state.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
