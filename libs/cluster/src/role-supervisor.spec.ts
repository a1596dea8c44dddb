import { transformFile } from '@swc/core';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RoleProcessExit, RoleStartError, RoleSupervisor, SupervisedRole } from './role-supervisor';

const fixtures = join(__dirname, 'fixtures');
const rawRole = join(fixtures, 'raw-role.js');
const helperRole = join(fixtures, 'helper-role.js');
let buildDir: string;

/** Compiles the child-side helper so a plain node process (the fixture) can load it. */
beforeAll(async () => {
  buildDir = mkdtempSync(join(tmpdir(), 'dln-role-process-'));
  for (const name of ['role-process', 'role-ipc']) {
    const out = await transformFile(join(__dirname, `${name}.ts`), {
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
      module: { type: 'commonjs' },
    });
    writeFileSync(join(buildDir, `${name}.js`), out.code);
  }
});
afterAll(() => rmSync(buildDir, { recursive: true, force: true }));

const supervisors: RoleSupervisor<string>[] = [];
afterEach(async () => {
  await Promise.all(supervisors.splice(0).map((s) => s.stopAll(0)));
});

function supervisor(stopGraceMs = 2000, nodeArgs?: string[]): RoleSupervisor<string> {
  const created = new RoleSupervisor<string>({
    stopGraceMs,
    ...(nodeArgs ? { nodeArgs } : {}),
    stdio: 'ignore',
    baseEnv: { ...process.env, ROLE_PROCESS_MODULE: join(buildDir, 'role-process.js') },
  });
  supervisors.push(created);
  return created;
}

function nextExit(s: RoleSupervisor<string>): Promise<RoleProcessExit<string>> {
  return new Promise((resolve) => s.onExit(resolve));
}

function whenRunning(s: RoleSupervisor<string>, key: string): Promise<SupervisedRole<string>> {
  return new Promise((resolve) => {
    s.onStateChange((role) => {
      if (role.key === key && role.state === 'running') resolve(role);
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('RoleSupervisor with real child processes', () => {
  it('runs a role in its own process, hands it the config and env, and reports its exit code', async () => {
    const s = supervisor();
    const exit = nextExit(s);
    const running = whenRunning(s, 'r1');
    const role = await s.start({
      key: 'r1',
      modulePath: rawRole,
      config: { mode: 'exit', code: 3, delayMs: 300, echoEnv: 'ROLE_LABEL' },
      env: { ROLE_LABEL: 'w0' },
      meta: 'token-r1',
    });
    expect(role.pid).not.toBe(process.pid);
    expect(role.state).toBe('starting');
    expect((await running).pid).toBe(role.pid);
    expect(s.list().map((r) => r.key)).toEqual(['r1']);
    const ended = await exit;
    expect(ended).toMatchObject({
      key: 'r1',
      pid: role.pid,
      code: 3,
      signal: null,
      reason: 'crashed',
      meta: 'token-r1',
    });
    expect(ended.message).toBe('env:w0');
    expect(s.size).toBe(0);
  });

  it("starts every role with the supervisor's node flags, and none by default", async () => {
    const flagsOf = async (s: RoleSupervisor<string>): Promise<string | null> => {
      const exit = nextExit(s);
      await s.start({
        key: 'flags',
        modulePath: rawRole,
        config: { mode: 'exit', code: 0, delayMs: 100, echoExecArgv: true },
        meta: 'm',
      });
      return (await exit).message;
    };
    expect(await flagsOf(supervisor(2000, ['--single-threaded-gc']))).toBe(
      'execArgv:--single-threaded-gc',
    );
    expect(await flagsOf(supervisor())).toBe('execArgv:');
  });

  it('classifies exit code 0 as completed', async () => {
    const s = supervisor();
    const exit = nextExit(s);
    await s.start({ key: 'r0', modulePath: rawRole, config: { mode: 'exit', code: 0 }, meta: 'm' });
    expect(await exit).toMatchObject({ code: 0, reason: 'completed', message: null });
  });

  it('stops a role with SIGTERM and reports it as stopped', async () => {
    const s = supervisor();
    const running = whenRunning(s, 'g');
    await s.start({ key: 'g', modulePath: rawRole, config: { mode: 'graceful' }, meta: 'm' });
    await running;
    const started = Date.now();
    const exit = await s.stop('g');
    expect(exit).toMatchObject({ code: 0, signal: null, reason: 'stopped' });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await s.stop('g')).toBeUndefined();
  });

  it('kills a role that ignores SIGTERM once the grace period is over', async () => {
    const s = supervisor(500);
    const running = whenRunning(s, 'st');
    const role = await s.start({
      key: 'st',
      modulePath: rawRole,
      config: { mode: 'stubborn' },
      meta: 'm',
    });
    await running;
    const started = Date.now();
    const exit = await s.stop('st');
    expect(exit).toMatchObject({ code: null, signal: 'SIGKILL', reason: 'stopped' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(isAlive(role.pid)).toBe(false);
  });

  it('survives a role that throws, one killed by a signal and one killed from outside', async () => {
    const s = supervisor();
    const thrown = nextExit(s);
    await s.start({
      key: 't',
      modulePath: rawRole,
      config: { mode: 'throw', delayMs: 100 },
      meta: 'm',
    });
    expect(await thrown).toMatchObject({
      code: 1,
      reason: 'crashed',
      message: 'exited with code 1',
    });

    const aborted = nextExit(s);
    await s.start({
      key: 'a',
      modulePath: rawRole,
      config: { mode: 'abort', delayMs: 100 },
      meta: 'm',
    });
    expect(await aborted).toMatchObject({
      signal: 'SIGABRT',
      reason: 'crashed',
      message: 'killed by SIGABRT',
    });

    const killed = nextExit(s);
    const running = whenRunning(s, 'k');
    const role = await s.start({
      key: 'k',
      modulePath: rawRole,
      config: { mode: 'stubborn' },
      meta: 'm',
    });
    await running;
    process.kill(role.pid, 'SIGKILL');
    expect(await killed).toMatchObject({ key: 'k', signal: 'SIGKILL', reason: 'crashed' });
    expect(s.size).toBe(0);
  });

  it('refuses a duplicate key and a missing entry module without starting anything', async () => {
    const s = supervisor();
    await s.start({ key: 'd', modulePath: rawRole, config: { mode: 'stubborn' }, meta: 'm' });
    await expect(
      s.start({ key: 'd', modulePath: rawRole, config: {}, meta: 'm' }),
    ).rejects.toMatchObject({
      kind: 'duplicate',
    });
    const missing = s.start({
      key: 'x',
      modulePath: join(fixtures, 'nope.js'),
      config: {},
      meta: 'm',
    });
    await expect(missing).rejects.toBeInstanceOf(RoleStartError);
    expect(s.list().map((r) => r.key)).toEqual(['d']);
  });

  it('stops every role at once', async () => {
    const s = supervisor(300);
    await s.start({ key: 'a', modulePath: rawRole, config: { mode: 'graceful' }, meta: 'm' });
    await s.start({ key: 'b', modulePath: rawRole, config: { mode: 'stubborn' }, meta: 'm' });
    await s.start({ key: 'c', modulePath: rawRole, config: { mode: 'never-ready' }, meta: 'm' });
    const exits = await s.stopAll();
    expect(exits.map((e) => e.reason)).toEqual(['stopped', 'stopped', 'stopped']);
    expect(exits.every((e) => e.pid !== null && !isAlive(e.pid))).toBe(true);
  });
});

describe('runRoleProcess (child side)', () => {
  it('reports ready, and exits 0 on SIGTERM after aborting the role', async () => {
    const s = supervisor();
    const running = whenRunning(s, 'h');
    const marker = join(buildDir, 'marker-h');
    await s.start({
      key: 'h',
      modulePath: helperRole,
      config: { mode: 'wait' },
      env: { MARKER_FILE: marker },
      meta: 'm',
    });
    await running;
    expect(await s.stop('h')).toMatchObject({ code: 0, signal: null, reason: 'stopped' });
    expect(readFileSync(marker, 'utf8')).toBe('aborted');
  });

  it('exits 0 when the role returns and 1 with its message when it throws', async () => {
    const s = supervisor();
    const finished = nextExit(s);
    await s.start({ key: 'f', modulePath: helperRole, config: { mode: 'finish' }, meta: 'm' });
    expect(await finished).toMatchObject({ code: 0, reason: 'completed' });
    const failed = nextExit(s);
    await s.start({ key: 'e', modulePath: helperRole, config: { mode: 'fail' }, meta: 'm' });
    expect(await failed).toMatchObject({
      code: 1,
      reason: 'crashed',
      message: 'no data for this role',
    });
  });

  it('ends an orphaned role when its node process dies', async () => {
    const node = spawn(process.execPath, [join(fixtures, 'orphaning-node.js')], {
      env: { ...process.env, ROLE_PROCESS_MODULE: join(buildDir, 'role-process.js') },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const rolePid = await new Promise<number>((resolve) => {
      node.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    });
    expect(isAlive(rolePid)).toBe(true);
    node.kill('SIGKILL');
    const deadline = Date.now() + 10_000;
    while (isAlive(rolePid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(isAlive(rolePid)).toBe(false);
  });
});
