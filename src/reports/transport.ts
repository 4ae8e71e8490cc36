// How a worker's reports leave the device. The worker spools every report in its SQLite
// state first and hands batches, oldest first, to a transport; a batch is deleted from the
// spool only once send() has resolved. So delivery is at least once, and ingestion (by the
// manager or the reporter) is idempotent on report_id, so each report is stored once.

import type { Report } from '../model/report.ts';

export interface ReportTransport {
  readonly name: 'http' | 'kafka';
  /**
   * Delivers the whole batch durably (stored by the manager / acknowledged by the Kafka
   * brokers), or throws ReportTransportError. Sending the same batch again is safe.
   */
  send(reports: readonly Report[]): Promise<void>;
  close(): Promise<void>;
}

/** The transport cannot deliver right now (network, broker, manager down): keep the batch and retry. */
export class ReportTransportError extends Error {
  /** False when retrying the same batch cannot help (e.g. the manager refuses a report as malformed). */
  readonly retryable: boolean;
  /** The receiver said when to come back (the manager's Retry-After), in ms. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options: { retryable?: boolean; cause?: unknown; retryAfterMs?: number | undefined } = {}) {
    super(message, { cause: options.cause });
    this.name = 'ReportTransportError';
    this.retryable = options.retryable ?? true;
    this.retryAfterMs = options.retryAfterMs;
  }
}
