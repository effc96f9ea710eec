// Logging: pino, JSON lines, one child logger per component carrying a
// `component` field. Daemons never use console.log.
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

let root: Logger | undefined;

export interface RootLoggerOptions {
  level?: string;
  /** Extra fields on every line (node name, pid file, …). */
  base?: Record<string, unknown>;
  /** Where lines go; stderr by default so stdout stays free for command output. */
  destination?: NodeJS.WritableStream;
}

export function createRootLogger(opts: RootLoggerOptions = {}): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? process.env.FLOTILLA_LOG_LEVEL ?? 'info',
    base: { pid: process.pid, ...opts.base },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  root = pino(options, opts.destination ?? pino.destination({ fd: 2, sync: false }));
  return root;
}

/** A child logger for one component (`scheduler`, `store`, `vxlan`, …). */
export function componentLogger(component: string, parent?: Logger): Logger {
  const base = parent ?? root ?? createRootLogger();
  return base.child({ component });
}

/** A logger that drops everything, for unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
