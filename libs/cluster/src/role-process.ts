import { RoleConfigMessage, RoleEnv, RoleToNodeMessage, isRoleConfigMessage } from './role-ipc';

/** What a role's main function gets inside its child process. */
export interface RoleContext {
  key: string;
  config: Record<string, unknown>;
  /** Aborted on SIGTERM/SIGINT or when the node process goes away: finish up and return. */
  signal: AbortSignal;
  /** Tell the node the role is up (its state becomes `running`). */
  ready(): void;
}

export type RoleMain = (context: RoleContext) => Promise<void>;

export interface RoleProcessOptions {
  /** How long to wait for the config from the node before giving up. */
  configTimeoutMs?: number;
}

/** Resolves once the message is written (or at once without a channel, or after 1 s). */
function sendToNode(message: RoleToNodeMessage): Promise<void> {
  const send = process.send?.bind(process);
  if (!send || !process.connected) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 1000);
    send(message, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function receiveConfig(timeoutMs: number): Promise<RoleConfigMessage> {
  const fromEnv = process.env[RoleEnv.config];
  if (!process.send && fromEnv !== undefined) {
    const parsed: unknown = JSON.parse(fromEnv);
    const message = {
      type: 'dln.role.config',
      key: process.env[RoleEnv.key] ?? 'manual',
      config: parsed,
    };
    if (!isRoleConfigMessage(message)) throw new Error(`${RoleEnv.config} must be a JSON object`);
    return Promise.resolve(message);
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no role config within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onMessage = (message: unknown): void => {
      if (!isRoleConfigMessage(message)) return;
      clearTimeout(timer);
      process.off('message', onMessage);
      resolve(message);
    };
    process.on('message', onMessage);
  });
}

/**
 * The body of every role entry module: receives the config over IPC (or DLN_ROLE_CONFIG when
 * run by hand), runs `main`, and exits 0 when it returns, 1 when it throws. SIGTERM/SIGINT and
 * the loss of the node (IPC disconnect) abort `main`'s signal, so an orphaned role never
 * outlives its node.
 */
export function runRoleProcess(main: RoleMain, options: RoleProcessOptions = {}): void {
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  process.once('SIGTERM', abort);
  process.once('SIGINT', abort);
  process.once('disconnect', abort);
  const run = async (): Promise<void> => {
    const { key, config } = await receiveConfig(options.configTimeoutMs ?? 30_000);
    const ready = (): void => void sendToNode({ type: 'dln.role.ready' });
    await main({ key, config, signal: controller.signal, ready });
  };
  run().then(
    // Exit even if main left handles open (timers, sockets): the role is done.
    () => process.exit(0),
    async (error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(
        `${JSON.stringify({ level: 'error', msg: 'role failed', error: message })}\n`,
      );
      await sendToNode({ type: 'dln.role.failed', message });
      process.exit(1);
    },
  );
}
