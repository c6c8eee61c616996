import pino from 'pino';
export type Logger = pino.Logger;
export function createLogger(level = process.env.FLOTILLA_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { svc: 'manager' } });
}
