import { ServiceProcess, TEST_NATS_URL, waitFor } from '@dln/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type App = 'ingest' | 'feature' | 'am' | 'parameter-server' | 'worker';

const settings: Record<App, Record<string, string>> = {
  ingest: {},
  feature: { STREAM_CHECKPOINT_MS: '500', STREAM_RECONCILE_MS: '500' },
  am: { HEARTBEAT_INTERVAL_MS: '250', JOB_PROGRESS_EVENT_MS: '500' },
  'parameter-server': { NODE_ID: 'bench-p1', NODE_SLOTS: '2', AM_RETRY_MAX_MS: '500' },
  worker: { NODE_ID: 'bench-w1', NODE_SLOTS: '2', AM_RETRY_MAX_MS: '500' },
};

/** A JSON REST call; throws with the status and body unless it succeeded. */
export async function rest<T>(method: 'GET' | 'POST', url: string, body?: unknown): Promise<T> {
  const res = await fetch(url, {
    method,
    ...(body !== undefined
      ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }
      : {}),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/**
 * The services a streaming training job needs, as separate processes under their own subject
 * root (built dist): ingest, feature, AM, one ps node and one worker node (2 slots each).
 */
export class BesideStack {
  private constructor(
    private readonly services: Map<App, ServiceProcess>,
    private readonly dataDir: string,
  ) {}

  static async start(root: string): Promise<BesideStack> {
    const dataDir = mkdtempSync(join(tmpdir(), 'dln-bench-beside-'));
    const services = new Map<App, ServiceProcess>();
    const stack = new BesideStack(services, dataDir);
    const launch = async (app: App): Promise<void> => {
      const env: Record<string, string> = {
        NATS_URL: TEST_NATS_URL,
        SUBJECT_ROOT: root,
        LOG_LEVEL: 'error',
        ...settings[app],
        ...(app === 'ingest' || app === 'feature' || app === 'am'
          ? { DATA_DIR: join(dataDir, app) }
          : {}),
      };
      services.set(app, await ServiceProcess.start({ app, env }));
    };
    try {
      await Promise.all((['ingest', 'feature', 'am'] as const).map(launch));
      await launch('parameter-server');
      await launch('worker');
      await waitFor(
        'both nodes registered',
        async () =>
          (await rest<{ nodes: unknown[] }>('GET', `${stack.url('am')}/v1/nodes`)).nodes.length ===
          2,
        30_000,
      );
    } catch (error) {
      await stack.stop();
      throw error;
    }
    return stack;
  }

  url(app: App): string {
    const service = this.services.get(app);
    if (!service) throw new Error(`${app} is not running`);
    return service.url;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.services.values()].map((p) => p.stop('SIGTERM', 5_000)));
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
