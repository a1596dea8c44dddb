import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_NATS_URL } from './names';
import { ok } from './rest';
import { ServiceProcess } from './service-process';
import { waitFor } from './wait';

export type StackApp = 'ingest' | 'feature' | 'am' | 'parameter-server' | 'worker' | 'prediction';

/**
 * The six services as separate processes under one subject root, for streaming e2e tests:
 * ingest, feature, am, one ps node and one worker node (2 slots each), prediction. Each
 * service's SQLite files live in a temp folder of the stack, so a restarted service finds them.
 */
export class StreamingStack {
  private readonly services = new Map<StackApp, ServiceProcess>();
  private readonly retired: ServiceProcess[] = [];

  private constructor(
    private readonly root: string,
    private readonly dataDir: string,
    private readonly extraEnv: Partial<Record<StackApp, Record<string, string>>>,
  ) {}

  /** Starts every service and waits for both nodes to register with the AM. */
  static async start(
    root: string,
    extraEnv: Partial<Record<StackApp, Record<string, string>>> = {},
  ): Promise<StreamingStack> {
    const stack = new StreamingStack(
      root,
      mkdtempSync(join(tmpdir(), 'dln-streaming-stack-')),
      extraEnv,
    );
    await Promise.all((['ingest', 'feature', 'am'] as const).map((app) => stack.launch(app)));
    await stack.launch('parameter-server');
    await stack.launch('worker');
    await stack.launch('prediction');
    await waitFor(
      'both nodes registered',
      async () =>
        (await ok<{ nodes: unknown[] }>('GET', `${stack.url('am')}/v1/nodes`)).nodes.length === 2,
      30_000,
    );
    return stack;
  }

  url(app: StackApp): string {
    return this.service(app).url;
  }

  service(app: StackApp): ServiceProcess {
    const service = this.services.get(app);
    if (!service) throw new Error(`${app} is not running`);
    return service;
  }

  /** Kills a service with `signal` and starts it again with the same settings and data. */
  async restart(app: StackApp, signal: NodeJS.Signals = 'SIGKILL'): Promise<ServiceProcess> {
    const old = this.service(app);
    await old.stop(signal);
    this.retired.push(old);
    return this.launch(app);
  }

  /** The last log lines of every service (E2E_DEBUG). */
  logs(lines = 40): string {
    return [...this.retired, ...this.services.values()]
      .map((p) => `${p.app}:\n${p.logs.slice(-lines).join('\n')}`)
      .join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all([...this.services.values()].map((p) => p.stop('SIGTERM', 5_000)));
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  private async launch(app: StackApp): Promise<ServiceProcess> {
    const env: Record<string, string> = {
      NATS_URL: TEST_NATS_URL,
      SUBJECT_ROOT: this.root,
      LOG_LEVEL: 'warn',
      ...defaults[app],
      ...(app === 'ingest' || app === 'feature' || app === 'am'
        ? { DATA_DIR: join(this.dataDir, app) }
        : {}),
      ...this.extraEnv[app],
    };
    const service = await ServiceProcess.start({ app, env });
    this.services.set(app, service);
    return service;
  }
}

const defaults: Record<StackApp, Record<string, string>> = {
  ingest: {},
  feature: { STREAM_CHECKPOINT_MS: '500', STREAM_RECONCILE_MS: '500' },
  am: { HEARTBEAT_INTERVAL_MS: '250', JOB_PROGRESS_EVENT_MS: '500' },
  'parameter-server': { NODE_ID: 'p1', NODE_SLOTS: '2', AM_RETRY_MAX_MS: '500' },
  worker: { NODE_ID: 'w1', NODE_SLOTS: '2', AM_RETRY_MAX_MS: '500' },
  prediction: { PARSE_WORKERS: '0', CATALOGUE_RETRY_MS: '200' },
};
