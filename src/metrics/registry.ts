// What the manager's, the worker's and the reporter's metrics share: a registry of their own
// with Node's process metrics (nebula_ prefix), the store operation metrics (the manager's
// and the reporter's stores, through src/store/instrumented.ts), and the scrape.

import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StoreOperation } from '../store/instrumented.ts';

/** Every metric name starts with this (the default process metrics too). */
export const PREFIX = 'nebula_';

/**
 * A registry of its own (several roles may share a process: the tests, a manager's --workers)
 * with Node's process metrics: nebula_process_*, nebula_nodejs_*.
 */
export function newRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: PREFIX });
  return registry;
}

/** Store operations, 0.5 ms to 10 s. */
const STORE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * nebula_store_operation_duration_seconds and nebula_store_operation_errors_total, by operation;
 * returns the observer instrumentStore takes. `who`: whose store calls they are, for the help text.
 */
export function storeMetrics(registry: Registry, who: string): (operation: StoreOperation, seconds: number, failed: boolean) => void {
  const registers = [registry];
  const duration = new Histogram({
    name: `${PREFIX}store_operation_duration_seconds`,
    help: `Duration of the store operations the ${who} makes, by operation (failed ones included)`,
    labelNames: ['operation'],
    buckets: STORE_BUCKETS,
    registers,
  });
  const errors = new Counter({
    name: `${PREFIX}store_operation_errors_total`,
    help: 'Store operations that failed (threw), by operation',
    labelNames: ['operation'],
    registers,
  });
  return (operation, seconds, failed) => {
    duration.observe({ operation }, seconds);
    if (failed) errors.inc({ operation });
  };
}

/** The exposition text and its content type. */
export async function scrape(registry: Registry): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}
