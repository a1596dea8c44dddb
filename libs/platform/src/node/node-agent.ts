import {
  RoleGcMode,
  RoleProcessExit,
  RoleSupervisor,
  roleNodeArgs,
  ROLE_SEMI_SPACE_MB,
} from '@dln/cluster';
import {
  ControlPattern,
  NodeRegistration,
  RoleExitReport,
  RunningRole,
  Subjects,
  nodeHeartbeatReplySchema,
  nodeRegistrationAckSchema,
  roleExitAckSchema,
} from '@dln/contracts';
import { NatsConnection, requestJson } from '@dln/messaging';
import { Logger } from '@nestjs/common';
import { NodeCommandHandler } from './node-commands';
import { NodeIdentity, RoleMeta, toRoleExit, toRunningRole } from './node-types';

export interface NodeAgentOptions {
  nats: NatsConnection;
  subjects: Subjects;
  identity: NodeIdentity;
  /** Role entry name (AssignRoleCommand.entry) -> absolute path of its built module. */
  roleEntries: Readonly<Record<string, string>>;
  stopGraceMs: number;
  /** Longest wait between registration attempts while the AM does not answer. */
  retryMaxMs: number;
  /** Heartbeat interval until the AM's ack says otherwise. */
  heartbeatIntervalMs: number;
  requestTimeoutMs: number;
  /** Role processes' stdio; tests silence them. */
  roleStdio?: 'inherit' | 'ignore';
  /** V8 garbage collection in role processes (roleNodeArgs; default auto). */
  roleGc?: RoleGcMode;
  /** Young generation cap of role processes, MB per semi-space (default ROLE_SEMI_SPACE_MB; 0: V8's). */
  roleSemiSpaceMb?: number;
}

/** Exit reports kept while the AM is away; the oldest are dropped beyond this. */
const MAX_PENDING_EXITS = 1000;

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms).unref());

/**
 * The light part of a node service: registers with the AM (retrying until it answers),
 * heartbeats, registers again when the AM no longer knows it, runs assigned roles in child
 * processes and reports their exits until the AM has them. Survives AM and NATS restarts: every
 * loop keeps going on errors, and the NATS client reconnects and resubscribes by itself.
 */
export class NodeAgent {
  readonly supervisor: RoleSupervisor<RoleMeta>;
  private readonly logger = new Logger(NodeAgent.name);
  private readonly commands: NodeCommandHandler;
  private readonly pendingExits: RoleExitReport[] = [];
  private running = false;
  private registered = false;
  private httpPort = 0;
  private heartbeatIntervalMs: number;
  private seq = 0;
  private loops: Promise<void>[] = [];
  private subscription: { unsubscribe(): void } | undefined;
  private wakeExitReporter: (() => void) | undefined;

  constructor(private readonly options: NodeAgentOptions) {
    this.heartbeatIntervalMs = options.heartbeatIntervalMs;
    this.supervisor = new RoleSupervisor<RoleMeta>({
      stopGraceMs: options.stopGraceMs,
      ...(options.roleStdio ? { stdio: options.roleStdio } : {}),
      nodeArgs: roleNodeArgs(
        {
          mode: options.roleGc ?? 'auto',
          semiSpaceMb: options.roleSemiSpaceMb ?? ROLE_SEMI_SPACE_MB,
        },
        options.identity.slots,
      ),
    });
    this.supervisor.onExit((exit) => this.onRoleExit(exit));
    this.commands = new NodeCommandHandler(
      options.identity,
      options.roleEntries,
      this.supervisor,
      options.stopGraceMs,
    );
  }

  get nodeId(): string {
    return this.options.identity.nodeId;
  }

  get isRegistered(): boolean {
    return this.registered;
  }

  /** Starts listening for commands, then registers and heartbeats in the background. */
  start(httpPort: number): void {
    if (this.running) return;
    this.running = true;
    this.httpPort = httpPort;
    const subject = this.options.subjects.nodeCommands(this.nodeId);
    this.subscription = this.options.nats.subscribe(subject, {
      callback: (error, msg) => {
        if (error) return;
        void this.commands.handle(msg);
      },
    });
    this.loops = [this.heartbeatLoop(), this.exitReportLoop()];
    this.logger.log({ msg: 'node started', ...this.options.identity, httpPort, commands: subject });
  }

  /** Stops every role (SIGTERM, SIGKILL after the grace), reports their exits, stops the loops. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.subscription?.unsubscribe();
    await this.supervisor.stopAll();
    await this.flushExits(3);
    this.running = false;
    this.wakeExitReporter?.();
    await Promise.all(this.loops);
  }

  runningRoles(): RunningRole[] {
    return this.supervisor.list().map(toRunningRole);
  }

  slots(): { total: number; used: number; free: number } {
    const total = this.options.identity.slots;
    const used = this.supervisor.size;
    return { total, used, free: Math.max(0, total - used) };
  }

  private registration(): NodeRegistration {
    const { identity } = this.options;
    return {
      ...identity,
      httpPort: this.httpPort,
      startedAt: new Date(performance.timeOrigin).toISOString(),
      runningRoles: this.runningRoles(),
    };
  }

  private async register(): Promise<void> {
    let backoffMs = 100;
    while (this.running) {
      try {
        const ack = await requestJson(
          this.options.nats,
          this.options.subjects.control(ControlPattern.nodeRegister),
          this.registration(),
          {
            reply: nodeRegistrationAckSchema,
            what: 'node registration',
            timeoutMs: this.options.requestTimeoutMs,
          },
        );
        this.heartbeatIntervalMs = ack.heartbeatIntervalMs;
        this.registered = true;
        this.logger.log({ msg: 'registered with the am', ...ack });
        return;
      } catch (error) {
        this.logger.warn({
          msg: 'am did not take the registration; retrying',
          error: String(error),
          inMs: backoffMs,
        });
        await sleep(backoffMs);
        backoffMs = Math.min(this.options.retryMaxMs, backoffMs * 2);
      }
    }
  }

  private async heartbeatLoop(): Promise<void> {
    let failing = false;
    while (this.running) {
      if (!this.registered) await this.register();
      if (!this.running) return;
      const started = Date.now();
      try {
        const reply = await requestJson(
          this.options.nats,
          this.options.subjects.control(ControlPattern.nodeHeartbeat),
          {
            nodeId: this.nodeId,
            incarnation: this.options.identity.incarnation,
            seq: this.seq++,
            sentAt: new Date().toISOString(),
            runningRoles: this.runningRoles(),
          },
          {
            reply: nodeHeartbeatReplySchema,
            what: 'heartbeat',
            timeoutMs: Math.max(this.heartbeatIntervalMs, 250),
          },
        );
        if (failing) this.logger.log({ msg: 'heartbeats answered again' });
        failing = false;
        if (!reply.known) {
          this.logger.warn({ msg: 'the am does not know this node; registering again' });
          this.registered = false;
          continue;
        }
      } catch (error) {
        if (!failing) this.logger.warn({ msg: 'heartbeat not answered', error: String(error) });
        failing = true;
      }
      await sleep(Math.max(0, this.heartbeatIntervalMs - (Date.now() - started)));
    }
  }

  private onRoleExit(exit: RoleProcessExit<RoleMeta>): void {
    const level = exit.reason === 'crashed' ? 'warn' : 'log';
    this.logger[level]({
      msg: 'role exited',
      ...exit.meta.token,
      pid: exit.pid,
      code: exit.code,
      signal: exit.signal,
      reason: exit.reason,
    });
    if (this.pendingExits.length >= MAX_PENDING_EXITS) {
      const dropped = this.pendingExits.shift();
      this.logger.error({
        msg: 'exit report dropped: the am has been away too long',
        role: dropped?.exit.token,
      });
    }
    this.pendingExits.push({
      nodeId: this.nodeId,
      incarnation: this.options.identity.incarnation,
      exit: toRoleExit(exit),
    });
    this.wakeExitReporter?.();
  }

  /** Sends pending exit reports in order until each is acknowledged; waits while there are none. */
  private async exitReportLoop(): Promise<void> {
    let backoffMs = 100;
    while (this.running) {
      if (this.pendingExits.length === 0) {
        await new Promise<void>((resolve) => (this.wakeExitReporter = resolve));
        this.wakeExitReporter = undefined;
        continue;
      }
      if (await this.flushExits(1)) backoffMs = 100;
      else {
        await sleep(backoffMs);
        backoffMs = Math.min(this.options.retryMaxMs, backoffMs * 2);
      }
    }
  }

  /** Tries to deliver the pending reports; false when the AM did not take one. */
  private async flushExits(attempts: number): Promise<boolean> {
    for (let attempt = 0; attempt < attempts; attempt += 1) {
      while (this.pendingExits.length > 0) {
        const report = this.pendingExits[0];
        if (!report) break;
        try {
          await requestJson(
            this.options.nats,
            this.options.subjects.control(ControlPattern.roleExit),
            report,
            {
              reply: roleExitAckSchema,
              what: 'role exit report',
              timeoutMs: this.options.requestTimeoutMs,
            },
          );
          this.pendingExits.shift();
        } catch (error) {
          this.logger.debug({ msg: 'exit report not acknowledged yet', error: String(error) });
          break;
        }
      }
      if (this.pendingExits.length === 0) return true;
    }
    return false;
  }
}
