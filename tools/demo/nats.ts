import { connectNats } from '@dln/messaging';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Launcher } from './launcher';

function findNatsServer(): string | undefined {
  const dirs = (process.env['PATH'] ?? '')
    .split(':')
    .concat(['/usr/sbin', '/usr/local/sbin', '/usr/local/bin']);
  return dirs.map((dir) => join(dir, 'nats-server')).find((candidate) => existsSync(candidate));
}

async function reachable(url: string): Promise<boolean> {
  try {
    const nc = await connectNats({ servers: url, name: 'dln-demo-probe', connectTimeoutMs: 2_000 });
    await nc.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Uses the NATS server at `url` when one answers; otherwise starts nats-server with JetStream
 * (loopback URLs only), storing its data under `dataDir`.
 */
export async function ensureNats(
  url: string,
  dataDir: string,
  launcher: Launcher,
): Promise<'existing' | 'started'> {
  if (await reachable(url)) return 'existing';
  const parsed = new URL(url.split(',')[0]!.trim());
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname)) {
    throw new Error(
      `no NATS server answers at ${url}; start it, or unset NATS_URL to let the demo start one locally`,
    );
  }
  const binary = findNatsServer();
  if (!binary) {
    throw new Error(
      `no NATS server answers at ${url} and no nats-server binary is on the PATH. Install one ` +
        '(Debian: apt-get install -y nats-server; or https://docs.nats.io), or point NATS_URL at a running server with JetStream.',
    );
  }
  const storeDir = join(dataDir, 'nats');
  mkdirSync(storeDir, { recursive: true });
  launcher.start(
    'nats-server',
    binary,
    [
      '-a',
      parsed.hostname.replace(/[[\]]/g, ''),
      '-p',
      parsed.port || '4222',
      '-js',
      '-sd',
      storeDir,
    ],
    {},
  );
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (await reachable(url)) return 'started';
    await new Promise((done) => setTimeout(done, 200));
  }
  throw new Error(`started ${binary} but it did not answer at ${url} within 15 s`);
}
