// Kefu's log: JSON lines for machines (log collectors), readable coloured lines for a person at a terminal.
import { pino, type DestinationStream, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';

export type LogFormatSetting = 'auto' | 'json' | 'pretty';

/** auto: readable lines when the output is a terminal, JSON otherwise (a pipe, a file, a container's log). */
export function logFormat(setting: LogFormatSetting, isTerminal: boolean): 'json' | 'pretty' {
  return setting === 'auto' ? (isTerminal ? 'pretty' : 'json') : setting;
}

export interface LoggerOptions {
  level: string;
  format: LogFormatSetting;
  /** Where the lines go (tests); standard output otherwise. */
  destination?: NodeJS.WritableStream & { isTTY?: boolean };
}

export function createLogger(options: LoggerOptions): Logger {
  const out = options.destination ?? process.stdout;
  if (logFormat(options.format, out.isTTY === true) === 'json') {
    return options.destination ? pino({ level: options.level }, options.destination as DestinationStream) : pino({ level: options.level });
  }
  // In this thread and synchronous (no transport worker): a line is on the screen before a crash ends the process.
  const pretty = PinoPretty({
    destination: out,
    sync: true,
    colorize: out.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
  });
  return pino({ level: options.level }, pretty);
}
