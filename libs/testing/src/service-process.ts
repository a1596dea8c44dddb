import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { waitFor } from './wait';

export interface ServiceProcessOptions {
  /** App name under apps/ (its built entry is dist/apps/<app>/src/main.js). */
  app: string;
  env: Record<string, string>;
  /** Workspace root; defaults to the current directory. */
  cwd?: string;
  startTimeoutMs?: number;
}

/**
 * A built service started as a separate process, the way users run it. Its JSON log lines are
 * kept; the port it reports in its `listening` line is read back.
 */
export class ServiceProcess {
  readonly logs: string[] = [];
  port = 0;
  private exitCode: number | null | undefined;

  private constructor(
    readonly app: string,
    private readonly child: ChildProcess,
  ) {
    const collect = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) this.logs.push(line);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.once('exit', (code) => {
      this.exitCode = code;
    });
  }

  static async start(options: ServiceProcessOptions): Promise<ServiceProcess> {
    const cwd = options.cwd ?? process.cwd();
    const entry = resolve(cwd, 'dist/apps', options.app, 'src/main.js');
    const child = spawn(process.execPath, [entry], {
      cwd,
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const service = new ServiceProcess(options.app, child);
    service.port = await waitFor(
      `${options.app} to listen`,
      () => {
        if (service.exitCode !== undefined)
          throw new Error(
            `${options.app} exited (${service.exitCode}): ${service.logs.slice(-5).join('\n')}`,
          );
        for (const line of service.logs) {
          if (line.includes('"msg":"listening"'))
            return (JSON.parse(line) as { port: number }).port;
        }
        return undefined;
      },
      options.startTimeoutMs ?? 60_000,
    );
    return service;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Sends a signal and waits for the exit (SIGKILL after `graceMs`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
