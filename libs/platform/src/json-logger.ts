import { LoggerService } from '@nestjs/common';

const LEVELS = { error: 0, warn: 1, info: 2, debug: 3 } as const;
export type LogLevel = keyof typeof LEVELS;

/** Structured JSON logs, one object a line on stdout (errors on stderr). */
export class JsonLogger implements LoggerService {
  constructor(
    private readonly service: string,
    private readonly level: LogLevel = 'info',
    private readonly write: (line: string, isError: boolean) => void = (line, isError) =>
      (isError ? process.stderr : process.stdout).write(line + '\n'),
  ) {}

  log(message: unknown, ...rest: unknown[]): void {
    this.emit('info', message, rest);
  }

  error(message: unknown, ...rest: unknown[]): void {
    this.emit('error', message, rest);
  }

  warn(message: unknown, ...rest: unknown[]): void {
    this.emit('warn', message, rest);
  }

  debug(message: unknown, ...rest: unknown[]): void {
    this.emit('debug', message, rest);
  }

  verbose(message: unknown, ...rest: unknown[]): void {
    this.emit('debug', message, rest);
  }

  private emit(level: LogLevel, message: unknown, rest: unknown[]): void {
    if (LEVELS[level] > LEVELS[this.level]) return;
    // Nest passes the context last; an error's stack may come before it.
    const params = [...rest];
    const context =
      typeof params[params.length - 1] === 'string' ? (params.pop() as string) : undefined;
    const entry: Record<string, unknown> = {
      time: new Date().toISOString(),
      level,
      service: this.service,
    };
    if (context) entry['context'] = context;
    if (message instanceof Error) {
      entry['msg'] = message.message;
      entry['stack'] = message.stack;
    } else if (typeof message === 'object' && message !== null) {
      Object.assign(entry, message);
    } else {
      entry['msg'] = String(message);
    }
    for (const extra of params) {
      if (typeof extra === 'string') entry['stack'] = extra;
      else if (typeof extra === 'object' && extra !== null) Object.assign(entry, extra);
    }
    this.write(JSON.stringify(entry), level === 'error');
  }
}
