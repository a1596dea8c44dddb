import { NodeKind, Subjects } from '@dln/contracts';
import type { NatsConnection } from '@dln/messaging';
import {
  BeforeApplicationShutdown,
  DynamicModule,
  Global,
  Inject,
  Module,
  OnModuleInit,
} from '@nestjs/common';
import { join } from 'node:path';
import { HealthContributor, HealthService } from '../health';
import { PlatformModule } from '../platform.module';
import { NATS_CONNECTION, SUBJECTS } from '../tokens';
import { NodeAgent } from './node-agent';
import { NodeConfig, nodeIdentity } from './node.config';

/** Entry name of the role that does no work (probe-role.ts), shipped by every node. */
export const PROBE_ROLE_ENTRY = 'probe-role';

export interface NodeServiceOptions {
  service: string;
  kind: NodeKind;
  config: NodeConfig;
  version: string;
  /** Role entry name -> absolute path of the built role module shipped by the app. */
  roleEntries: Readonly<Record<string, string>>;
}

/** Stops the roles (and reports their exits) before the NATS connection is drained. */
class NodeAgentShutdown implements BeforeApplicationShutdown {
  constructor(@Inject(NodeAgent) private readonly agent: NodeAgent) {}

  async beforeApplicationShutdown(): Promise<void> {
    await this.agent.stop();
  }
}

function nodeHealth(agent: NodeAgent, kind: NodeKind): HealthContributor {
  return {
    name: 'node',
    check: async () => ({
      ok: true,
      detail: agent.isRegistered ? 'registered with the am' : 'not registered with the am yet',
      nodeId: agent.nodeId,
      kind,
      registered: agent.isRegistered,
      slots: agent.slots(),
      runningRoles: agent.runningRoles(),
    }),
  };
}

/** Everything a node service (worker, parameter-server) shares: the platform plus its NodeAgent. */
@Global()
/** Puts the node's slots and roles into /health once the app starts. */
class NodeHealthRegistration implements OnModuleInit {
  constructor(
    private readonly health: HealthService,
    private readonly contributor: HealthContributor,
  ) {}

  onModuleInit(): void {
    this.health.register(this.contributor);
  }
}

@Module({})
export class NodeServiceModule {
  static forRoot(options: NodeServiceOptions): DynamicModule {
    const { config } = options;
    return {
      module: NodeServiceModule,
      imports: [PlatformModule.forRoot({ service: options.service, config })],
      providers: [
        {
          provide: NodeAgent,
          inject: [NATS_CONNECTION, SUBJECTS],
          useFactory: (nats: NatsConnection, subjects: Subjects) =>
            new NodeAgent({
              nats,
              subjects,
              identity: nodeIdentity(options.kind, config, options.version),
              roleEntries: {
                [PROBE_ROLE_ENTRY]: join(__dirname, 'probe-role.js'),
                ...options.roleEntries,
              },
              stopGraceMs: config.ROLE_STOP_GRACE_MS,
              retryMaxMs: config.AM_RETRY_MAX_MS,
              heartbeatIntervalMs: config.HEARTBEAT_INTERVAL_MS,
              requestTimeoutMs: config.AM_REQUEST_TIMEOUT_MS,
              roleStdio: config.ROLE_STDIO,
              roleGc: config.ROLE_GC,
              roleSemiSpaceMb: config.ROLE_SEMI_SPACE_MB,
            }),
        },
        {
          provide: NodeHealthRegistration,
          inject: [NodeAgent, HealthService],
          useFactory: (agent: NodeAgent, health: HealthService) =>
            new NodeHealthRegistration(health, nodeHealth(agent, options.kind)),
        },
        NodeAgentShutdown,
      ],
      exports: [NodeAgent],
    };
  }
}
