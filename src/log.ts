// pino JSON logs on stdout. Secrets and app environments never reach a log line.

import { pino, type Logger } from 'pino';

export type { Logger };

export const REDACT = [
  'req.headers.authorization',
  'headers.authorization',
  '*.password',
  '*.token',
  '*.auth_token',
  '*.basic_auth_password',
  '*.env_vars',
  'env_vars',
];

export function createLogger(level: string, name: string): Logger {
  return pino({ level, name, redact: { paths: REDACT, censor: '[redacted]' }, base: { pid: process.pid } });
}
