import {
  NodeDetail,
  NodeList,
  NodeView,
  RoleEntry,
  Subjects,
  nodeCommandReplySchema,
} from '@dln/contracts';
import { NatsConnection, connectNats, requestJson } from '@dln/messaging';
import { dropPostgresSchema } from '@dln/persistence';
import {
  PrivateNatsServer,
  ServiceProcess,
  TEST_DATABASES,
  uniqueRoot,
  waitFor,
} from '@dln/testing';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The node registry across real processes: am, worker and parameter-server built in dist/, on a
// private nats-server (this file restarts it), with SQLite and with PostgreSQL.
const INTERVAL_MS = 250;
const LOSS_BOUND_MS = 3 * INTERVAL_MS + 1000;

const token = { jobId: 'job-1', generation: 0, role: 'worker-0', attempt: 0 };
/** The role that does no work, shipped by every node (libs/platform/src/node/probe-role.ts). */
const PROBE_ROLE_ENTRY = 'probe-role';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return (await response.json()) as T;
}

describe.each(TEST_DATABASES)(
  'node registry across processes on $kind',
  ({ kind, databaseUrl }) => {
    const root = uniqueRoot(`nodes_e2e_${kind}`);
    const subjects = new Subjects(root);
    const dataDir = mkdtempSync(join(tmpdir(), 'dln-nodes-e2e-'));
    let nats: PrivateNatsServer;
    let nc: NatsConnection;
    let am: ServiceProcess;
    let worker: ServiceProcess;
    let ps: ServiceProcess;
    const processes: ServiceProcess[] = [];

    const baseEnv = (): Record<string, string> => ({
      NATS_URL: nats.url,
      SUBJECT_ROOT: root,
      LOG_LEVEL: 'info',
    });
    const startAm = async (schema = root): Promise<ServiceProcess> => {
      const started = await ServiceProcess.start({
        app: 'am',
        env: {
          ...baseEnv(),
          DATA_DIR: dataDir,
          DB_SCHEMA: schema,
          ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
          HEARTBEAT_INTERVAL_MS: String(INTERVAL_MS),
          NODE_SWEEP_INTERVAL_MS: '50',
        },
      });
      processes.push(started);
      return started;
    };
    const startNode = async (
      app: 'worker' | 'parameter-server',
      nodeId: string,
    ): Promise<ServiceProcess> => {
      const started = await ServiceProcess.start({
        app,
        env: {
          ...baseEnv(),
          NODE_ID: nodeId,
          NODE_SLOTS: '2',
          AM_RETRY_MAX_MS: '500',
          ROLE_STOP_GRACE_MS: '2000',
        },
      });
      processes.push(started);
      return started;
    };
    const nodes = async (): Promise<NodeView[]> =>
      (await getJson<NodeList>(`${am.url}/v1/nodes`)).nodes;
    const node = async (id: string): Promise<NodeView | undefined> =>
      (await nodes()).find((n) => n.nodeId === id);
    const detail = (id: string): Promise<NodeDetail> =>
      getJson<NodeDetail>(`${am.url}/v1/nodes/${id}`);
    const statusIs = (id: string, status: 'ALIVE' | 'LOST', timeoutMs = 15_000) =>
      waitFor(
        `${id} ${status}`,
        async () => (await node(id).catch(() => undefined))?.status === status,
        timeoutMs,
        20,
      );
    const command = (nodeId: string, body: unknown) =>
      requestJson(nc, subjects.nodeCommands(nodeId), body, {
        reply: nodeCommandReplySchema,
        what: 'command',
        timeoutMs: 10_000,
      });

    beforeAll(async () => {
      nats = await PrivateNatsServer.start();
      nc = await connectNats({ servers: nats.url, name: 'nodes-e2e' });
      am = await startAm();
      worker = await startNode('worker', 'w1');
      ps = await startNode('parameter-server', 'p1');
    });

    afterAll(async () => {
      await Promise.all(processes.map((p) => p.stop('SIGTERM', 5_000)));
      await nc?.close();
      await nats?.dispose();
      if (databaseUrl) {
        await dropPostgresSchema(databaseUrl, root);
        await dropPostgresSchema(databaseUrl, `${root}_fresh`);
      }
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('registers both nodes ALIVE with the HTTP port they listen on', async () => {
      await statusIs('w1', 'ALIVE');
      await statusIs('p1', 'ALIVE');
      expect(await node('w1')).toMatchObject({
        kind: 'worker',
        httpPort: worker.port,
        slots: { total: 2, used: 0 },
      });
      expect(await node('p1')).toMatchObject({ kind: 'parameter-server', httpPort: ps.port });
      const health = await getJson<{
        checks: { node: { registered: boolean; slots: { free: number } } };
      }>(`${worker.url}/health`);
      expect(health.checks.node).toMatchObject({ registered: true, slots: { free: 2 } });
    });

    it('runs an assigned role in its own process, survives its crash and stops it on command', async () => {
      const assign = { type: 'assign', token, entry: PROBE_ROLE_ENTRY, config: { note: 'e2e' } };
      const started = await command('w1', assign);
      const pid = started.role!.pid;
      expect(pid).not.toBe(worker.pid);
      // Started with the node's V8 flags for roles: ROLE_SEMI_SPACE_MB's default cap.
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain(
        '--max-semi-space-size=4',
      );
      expect((await command('w1', assign)).role?.pid).toBe(pid);
      const unknownEntry = {
        ...assign,
        token: { ...token, role: 'worker-9' },
        entry: 'no-such-role',
      };
      await expect(command('w1', unknownEntry)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await waitFor(
        'role running in the am view',
        async () => (await node('w1'))?.runningRoles[0]?.state === 'running',
      );
      expect((await node('w1'))?.slots).toEqual({ total: 2, used: 1, free: 1 });

      process.kill(pid, 'SIGKILL');
      await waitFor('slot freed after the crash', async () => (await node('w1'))?.slots.used === 0);
      expect(worker.running).toBe(true);
      expect((await node('w1'))?.status).toBe('ALIVE');

      const again = await command('w1', { ...assign, token: { ...token, attempt: 1 } });
      type Health = { checks: { node: { runningRoles: { pid: number; state: string }[] } } };
      await waitFor('the new role ready on its node', async () => {
        const health = await getJson<Health>(`${worker.url}/health`);
        return health.checks.node.runningRoles.some(
          (r) => r.pid === again.role!.pid && r.state === 'running',
        );
      });
      const stopped = await command('w1', {
        type: 'stop',
        token: { ...token, attempt: 1 },
        reason: 'test',
      });
      expect(stopped.exit).toMatchObject({ reason: 'stopped', code: 0, pid: again.role!.pid });
      expect(isAlive(again.role!.pid)).toBe(false);
      expect((await command('w1', { type: 'stop', token, reason: 'again' })).exit).toBeNull();
    });

    it('runs the real worker role entry from dist; a role that fails frees its slot and spares the node', async () => {
      const badConfig = {
        type: 'assign',
        token: { ...token, role: 'worker-5' },
        entry: RoleEntry.Worker,
        config: {},
      };
      const started = await command('w1', badConfig);
      expect(started.role?.entry).toBe(RoleEntry.Worker);
      await waitFor('failed role gone', async () => !isAlive(started.role!.pid), 30_000);
      await waitFor('slot freed', async () => (await node('w1'))?.slots.used === 0);
      expect(worker.running).toBe(true);
      expect((await node('w1'))?.status).toBe('ALIVE');
    });

    it('declares a killed node LOST within 3 x interval + 1 s, and ALIVE when it comes back', async () => {
      const started = await command('w1', {
        type: 'assign',
        token: { ...token, attempt: 2 },
        entry: PROBE_ROLE_ENTRY,
        config: {},
      });
      const killedAt = Date.now();
      await worker.stop('SIGKILL');
      await statusIs('w1', 'LOST', 10_000);
      expect(Date.now() - killedAt).toBeLessThanOrEqual(LOSS_BOUND_MS + 500);
      await waitFor('orphaned role to end', () => !isAlive(started.role!.pid), 10_000);
      worker = await startNode('worker', 'w1');
      await statusIs('w1', 'ALIVE');
      const types = (await detail('w1')).events.map((e) => e.type);
      expect(types).toEqual(['REGISTERED', 'LOST', 'RESTARTED']);
    });

    it('keeps its nodes across an AM restart, and a fresh AM gets them registered again', async () => {
      const before = (await detail('w1')).events.length;
      await am.stop('SIGTERM');
      await new Promise((r) => setTimeout(r, 4 * INTERVAL_MS));
      am = await startAm();
      await new Promise((r) => setTimeout(r, 6 * INTERVAL_MS));
      expect((await node('w1'))?.status).toBe('ALIVE');
      expect((await detail('w1')).events.length).toBe(before);

      await am.stop('SIGTERM');
      am = await startAm(`${root}_fresh`);
      await statusIs('w1', 'ALIVE');
      await statusIs('p1', 'ALIVE');
      expect((await detail('w1')).events.map((e) => e.type)).toEqual(['REGISTERED']);
    });

    it('rides out a NATS restart: every node heartbeats again and is ALIVE', async () => {
      await nats.stop();
      await new Promise((r) => setTimeout(r, 2_000));
      await nats.resume();
      await waitFor(
        'worker heartbeats after the restart',
        async () => {
          const view = await node('w1');
          return (
            view?.status === 'ALIVE' &&
            view.lastHeartbeatAt !== null &&
            Date.parse(view.lastHeartbeatAt) > Date.now() - 2 * INTERVAL_MS
          );
        },
        30_000,
      );
      await statusIs('p1', 'ALIVE', 30_000);
      expect(worker.running && ps.running && am.running).toBe(true);
      const health = await getJson<{ checks: { nats: { ok: boolean } } }>(`${worker.url}/health`);
      expect(health.checks.nats.ok).toBe(true);
    });
  },
);
