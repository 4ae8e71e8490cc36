// Reports over HTTP: POST to the manager, which stores them (the default transport).

import { ManagerUnavailableError, type ManagerClient } from '../client/manager.ts';
import type { Report } from '../model/report.ts';
import { ReportTransportError, type ReportTransport } from './transport.ts';

export class HttpReportTransport implements ReportTransport {
  readonly name = 'http';
  private readonly client: ManagerClient;

  constructor(client: ManagerClient) {
    this.client = client;
  }

  async send(reports: readonly Report[]): Promise<void> {
    let result;
    try {
      result = await this.client.postReports(reports);
    } catch (err) {
      if (err instanceof ManagerUnavailableError) throw new ReportTransportError(err.message, { cause: err, retryAfterMs: err.retryAfterMs });
      throw err;
    }
    if (result.kind === 'refused') {
      throw new ReportTransportError(`the manager refused the reports (${result.status}${result.code ? ` ${result.code}` : ''})`, { retryable: false });
    }
  }

  async close(): Promise<void> {}
}
