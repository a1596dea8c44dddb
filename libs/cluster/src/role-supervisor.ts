import { ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { RoleExitReason, RoleProcessState } from '@dln/contracts';
import { Clock, systemClock } from './clock';
import { RoleConfigMessage, RoleEnv, isRoleToNodeMessage } from './role-ipc';

/** What to run for one role. */
export interface RoleLaunch<M> {
  key: string;
  /** Absolute path of the role entry module (a built .js file). */
  modulePath: string;
  config: Record<string, unknown>;
  args?: readonly string[];
  env?: Readonly<Record<string, string>>;
  /** Carried along and handed back in listings and exits (e.g. the fencing token). */
  meta: M;
}

export interface SupervisedRole<M> {
  key: string;
  pid: number;
  state: RoleProcessState;
  startedAt: number;
  meta: M;
}

export interface RoleProcessExit<M> {
  key: string;
  pid: number | null;
  code: number | null;
  signal: NodeJS.Signals | null;
  reason: RoleExitReason;
  message: string | null;
  startedAt: number;
  exitedAt: number;
  meta: M;
}

export interface RoleSupervisorOptions {
  /** Between SIGTERM and SIGKILL when a role is stopped. */
  stopGraceMs?: number;
  /** Where role processes write stdout/stderr; `inherit` shares the node's. */
  stdio?: 'inherit' | 'ignore';
  /** Environment every role process inherits (defaults to the node's). */
  baseEnv?: NodeJS.ProcessEnv;
  /** Node flags every role process starts with (see roleNodeArgs). */
  nodeArgs?: readonly string[];
  clock?: Clock;
}

export class RoleStartError extends Error {
  constructor(
    message: string,
    readonly kind: 'duplicate' | 'missing-entry' | 'spawn-failed',
  ) {
    super(message);
    this.name = 'RoleStartError';
  }
}

interface Slot<M> {
  role: SupervisedRole<M>;
  child: ChildProcess;
  stopRequested: boolean;
  failureMessage: string | null;
  exited: Promise<RoleProcessExit<M>>;
  killTimer?: NodeJS.Timeout;
}

type Listener<T> = (value: T) => void;

/**
 * Runs each role in a child process of its own and reports how it ended. A role's death is an
 * event, never an exception: nothing a child does can take the node process down.
 */
export class RoleSupervisor<M> {
  private readonly slots = new Map<string, Slot<M>>();
  private readonly exitListeners: Listener<RoleProcessExit<M>>[] = [];
  private readonly stateListeners: Listener<SupervisedRole<M>>[] = [];
  private readonly clock: Clock;

  constructor(private readonly options: RoleSupervisorOptions = {}) {
    this.clock = options.clock ?? systemClock;
  }

  onExit(listener: Listener<RoleProcessExit<M>>): void {
    this.exitListeners.push(listener);
  }

  onStateChange(listener: Listener<SupervisedRole<M>>): void {
    this.stateListeners.push(listener);
  }

  list(): SupervisedRole<M>[] {
    return [...this.slots.values()].map((slot) => ({ ...slot.role }));
  }

  get(key: string): SupervisedRole<M> | undefined {
    const slot = this.slots.get(key);
    return slot ? { ...slot.role } : undefined;
  }

  get size(): number {
    return this.slots.size;
  }

  /** Forks the role's process; resolves once it runs (state `starting` until it reports ready). */
  async start(launch: RoleLaunch<M>): Promise<SupervisedRole<M>> {
    if (this.slots.has(launch.key))
      throw new RoleStartError(`role ${launch.key} is already running`, 'duplicate');
    if (!existsSync(launch.modulePath)) {
      throw new RoleStartError(`role entry ${launch.modulePath} does not exist`, 'missing-entry');
    }
    const child = fork(launch.modulePath, [...(launch.args ?? [])], {
      env: { ...(this.options.baseEnv ?? process.env), ...launch.env, [RoleEnv.key]: launch.key },
      execArgv: [...(this.options.nodeArgs ?? [])],
      stdio:
        this.options.stdio === 'ignore'
          ? ['ignore', 'ignore', 'ignore', 'ipc']
          : ['inherit', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
    const slot: Slot<M> = {
      role: {
        key: launch.key,
        pid: child.pid ?? 0,
        state: RoleProcessState.Starting,
        startedAt: this.clock.now(),
        meta: launch.meta,
      },
      child,
      stopRequested: false,
      failureMessage: null,
      exited: new Promise((resolve) => {
        child.once('exit', (code, signal) => resolve(this.finish(slot, code, signal)));
      }),
    };
    // An 'error' without a listener would be thrown on the node's event loop.
    child.on('error', (error) => {
      slot.failureMessage ??= `process error: ${error.message}`;
    });
    child.on('message', (message) => this.onMessage(slot, message));
    this.slots.set(launch.key, slot);
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', () => resolve());
        child.once('error', reject);
      });
    } catch (error) {
      this.slots.delete(launch.key);
      throw new RoleStartError(
        `role ${launch.key} could not start: ${String(error)}`,
        'spawn-failed',
      );
    }
    slot.role.pid = child.pid ?? 0;
    const configMessage: RoleConfigMessage = {
      type: 'dln.role.config',
      key: launch.key,
      config: launch.config,
    };
    this.send(child, configMessage);
    return { ...slot.role };
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves with the exit. */
  async stop(
    key: string,
    graceMs = this.options.stopGraceMs ?? 10_000,
  ): Promise<RoleProcessExit<M> | undefined> {
    const slot = this.slots.get(key);
    if (!slot) return undefined;
    if (!slot.stopRequested) {
      slot.stopRequested = true;
      this.setState(slot, RoleProcessState.Stopping);
      this.signal(slot.child, 'SIGTERM');
      slot.killTimer = setTimeout(() => this.signal(slot.child, 'SIGKILL'), Math.max(0, graceMs));
    }
    return slot.exited;
  }

  /** Stops every role in parallel (node shutdown). */
  async stopAll(graceMs?: number): Promise<RoleProcessExit<M>[]> {
    const exits = await Promise.all([...this.slots.keys()].map((key) => this.stop(key, graceMs)));
    return exits.filter((exit): exit is RoleProcessExit<M> => exit !== undefined);
  }

  private onMessage(slot: Slot<M>, message: unknown): void {
    if (!isRoleToNodeMessage(message)) return;
    if (message.type === 'dln.role.ready') {
      if (slot.role.state === RoleProcessState.Starting)
        this.setState(slot, RoleProcessState.Running);
    } else {
      slot.failureMessage = message.message.slice(0, 2000);
    }
  }

  private finish(
    slot: Slot<M>,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): RoleProcessExit<M> {
    if (slot.killTimer) clearTimeout(slot.killTimer);
    if (this.slots.get(slot.role.key) === slot) this.slots.delete(slot.role.key);
    const reason = slot.stopRequested
      ? RoleExitReason.Stopped
      : code === 0
        ? RoleExitReason.Completed
        : RoleExitReason.Crashed;
    const exit: RoleProcessExit<M> = {
      key: slot.role.key,
      pid: slot.role.pid,
      code,
      signal,
      reason,
      message:
        slot.failureMessage ??
        (reason === RoleExitReason.Crashed ? describeCrash(code, signal) : null),
      startedAt: slot.role.startedAt,
      exitedAt: this.clock.now(),
      meta: slot.role.meta,
    };
    for (const listener of this.exitListeners) safely(() => listener(exit));
    return exit;
  }

  private setState(slot: Slot<M>, state: RoleProcessState): void {
    slot.role.state = state;
    const snapshot = { ...slot.role };
    for (const listener of this.stateListeners) safely(() => listener(snapshot));
  }

  private send(child: ChildProcess, message: RoleConfigMessage): void {
    if (!child.connected) return;
    // The child may die between the check and the write: the callback swallows EPIPE.
    child.send(message, (error) => void error);
  }

  private signal(child: ChildProcess, signal: NodeJS.Signals): void {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      child.kill(signal);
    } catch {
      // Already gone (ESRCH): its exit event follows.
    }
  }
}

function describeCrash(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exited with code ${code ?? 'unknown'}`;
}

function safely(action: () => void): void {
  try {
    action();
  } catch (error) {
    // A faulty listener must not break supervision; report it without throwing.
    process.emitWarning(`role supervisor listener failed: ${String(error)}`);
  }
}
