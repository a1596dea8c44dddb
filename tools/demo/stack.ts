import { resolve } from 'node:path';
import { ensureNats } from './nats';
import { Launcher } from './launcher';

/** Where the local stack listens; every value can be overridden by the environment. */
export interface StackConfig {
  natsUrl: string;
  subjectRoot: string;
  dataDir: string;
  host: string;
  ports: { am: number; ingest: number; feature: number; prediction: number };
  workers: number;
  parameterServers: number;
}

function portFrom(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value === '') return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    throw new Error(`${name} must be a TCP port, got "${value}"`);
  return port;
}

function countFrom(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value === '') return fallback;
  const count = Number(value);
  if (!Number.isInteger(count) || count < 0 || count > 16)
    throw new Error(`${name} must be 0..16, got "${value}"`);
  return count;
}

export function stackConfigFrom(env: Record<string, string | undefined>): StackConfig {
  return {
    natsUrl: env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
    subjectRoot: env['SUBJECT_ROOT'] ?? 'dln',
    dataDir: resolve(env['DATA_DIR'] ?? './data'),
    host: '127.0.0.1',
    ports: {
      am: portFrom(env['AM_PORT'], 3000, 'AM_PORT'),
      ingest: portFrom(env['INGEST_PORT'], 3001, 'INGEST_PORT'),
      feature: portFrom(env['FEATURE_PORT'], 3002, 'FEATURE_PORT'),
      prediction: portFrom(env['PREDICTION_PORT'], 3003, 'PREDICTION_PORT'),
    },
    workers: countFrom(env['DEMO_WORKERS'], 2, 'DEMO_WORKERS'),
    parameterServers: countFrom(env['DEMO_PARAMETER_SERVERS'], 1, 'DEMO_PARAMETER_SERVERS'),
  };
}

export function urlOf(config: StackConfig, service: keyof StackConfig['ports']): string {
  return `http://${config.host}:${config.ports[service]}`;
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
    return res.ok;
  } catch {
    return false;
  }
}

async function waitHealthy(name: string, url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await healthy(url)) return;
    await new Promise((done) => setTimeout(done, 250));
  }
  throw new Error(`${name} did not become healthy at ${url}/health within ${timeoutMs / 1000} s`);
}

async function aliveNodes(amUrl: string): Promise<number> {
  try {
    const res = await fetch(`${amUrl}/v1/nodes`, { signal: AbortSignal.timeout(2_000) });
    if (!res.ok) return 0;
    const body = (await res.json()) as { nodes: { status: string }[] };
    return body.nodes.filter((node) => node.status === 'ALIVE').length;
  } catch {
    return 0;
  }
}

/**
 * Starts NATS (when none answers) and the six services as separate processes, the way a user
 * runs them, and waits until each is healthy and every node has registered with the AM.
 */
export async function startStack(
  config: StackConfig,
  launcher: Launcher,
  say: (line: string) => void,
): Promise<void> {
  const nats = await ensureNats(config.natsUrl, config.dataDir, launcher);
  say(
    nats === 'started'
      ? `started nats-server (JetStream) at ${config.natsUrl}`
      : `using NATS at ${config.natsUrl}`,
  );
  const common = {
    NATS_URL: config.natsUrl,
    SUBJECT_ROOT: config.subjectRoot,
    DATA_DIR: config.dataDir,
    HOST: config.host,
  };
  const services = [
    ['am', config.ports.am],
    ['ingest', config.ports.ingest],
    ['feature', config.ports.feature],
    ['prediction', config.ports.prediction],
  ] as const;
  for (const [app, port] of services)
    launcher.startApp(app, app, { ...common, PORT: String(port) });
  for (let i = 0; i < config.parameterServers; i += 1) {
    launcher.startApp(`parameter-server-${i}`, 'parameter-server', {
      ...common,
      PORT: '0',
      NODE_ID: `ps-node-${i}`,
    });
  }
  for (let i = 0; i < config.workers; i += 1) {
    launcher.startApp(`worker-${i}`, 'worker', {
      ...common,
      PORT: '0',
      NODE_ID: `worker-node-${i}`,
    });
  }
  for (const [app] of services) {
    await waitHealthy(app, urlOf(config, app));
    say(`${app.padEnd(10)} healthy at ${urlOf(config, app)}`);
  }
  const expected = config.workers + config.parameterServers;
  const deadline = Date.now() + 60_000;
  let alive = 0;
  while (Date.now() < deadline && (alive = await aliveNodes(urlOf(config, 'am'))) < expected) {
    await new Promise((done) => setTimeout(done, 250));
  }
  if (alive < expected)
    throw new Error(
      `only ${alive} of ${expected} worker/ps nodes registered with the AM within 60 s`,
    );
  say(
    `${expected} nodes registered (${config.workers} worker, ${config.parameterServers} parameter-server)`,
  );
}
