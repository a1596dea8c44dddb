import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** One process the launcher started, with its log file. */
export interface Launched {
  name: string;
  child: ChildProcess;
  logFile: string;
}

/**
 * Starts and stops the processes of a local stack. Each process writes its JSON logs to
 * `<logDir>/<name>.log`; Ctrl-C (or `stopAll`) stops everything it started, newest first.
 */
export class Launcher {
  private readonly launched: Launched[] = [];
  private stopping = false;

  constructor(private readonly logDir: string) {
    mkdirSync(logDir, { recursive: true });
  }

  start(name: string, command: string, args: string[], env: Record<string, string>): Launched {
    const logFile = join(this.logDir, `${name}.log`);
    const log = createWriteStream(logFile, { flags: 'a' });
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    const entry = { name, child, logFile };
    this.launched.push(entry);
    child.once('exit', (code, signal) => {
      if (!this.stopping)
        process.stderr.write(`! ${name} exited (${code ?? signal}); see ${logFile}\n`);
    });
    return entry;
  }

  /** Starts a built app: dist/apps/<app>/src/main.js. */
  startApp(name: string, app: string, env: Record<string, string>): Launched {
    const entry = resolve('dist/apps', app, 'src/main.js');
    if (!existsSync(entry)) throw new Error(`${entry} is missing: run "npm run build" first`);
    return this.start(name, process.execPath, ['--enable-source-maps', entry], env);
  }

  async stopAll(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    for (const entry of [...this.launched].reverse()) {
      const { child } = entry;
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise<void>((done) => child.once('exit', () => done()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
  }

  /** Stops everything on Ctrl-C / SIGTERM, then exits. */
  stopOnSignals(onStop?: () => void): void {
    const handler = (signal: NodeJS.Signals): void => {
      if (this.stopping) return;
      process.stderr.write(`\n${signal}: stopping everything this command started...\n`);
      onStop?.();
      void this.stopAll().then(() => process.exit(130));
    };
    process.once('SIGINT', handler);
    process.once('SIGTERM', handler);
  }
}
