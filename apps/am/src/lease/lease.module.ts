import { LeaseState, UnavailableError } from '@dln/contracts';
import { HealthService, MetricsService, PlatformModule } from '@dln/platform';
import {
  All,
  Controller,
  DynamicModule,
  Inject,
  Injectable,
  Logger,
  Module,
  OnApplicationShutdown,
  OnModuleInit,
  Res,
} from '@nestjs/common';
import type { AmConfig } from '../am.config';
import { AM_LEASE, AmLease } from './am-lease';

/** /health shows the lease (state, self, holder); /metrics has dln_am_lease_active. */
@Injectable()
class LeaseHealth implements OnModuleInit {
  constructor(
    @Inject(AM_LEASE) private readonly lease: AmLease,
    private readonly health: HealthService,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.health.register({
      name: 'lease',
      check: () => Promise.resolve({ ok: true, ...this.lease.view() }),
    });
    const gauge = this.metrics.gauge(
      'am_lease_active',
      '1 while this AM holds the lease and acts, 0 on a standby',
    );
    gauge.set(this.lease.state === LeaseState.Active ? 1 : 0);
  }
}

/**
 * Releases the lease at the very end of a clean shutdown of the active AM, when its NATS
 * handlers are closed and its timers stopped, so a standby takes over without waiting.
 */
@Injectable()
class LeaseRelease implements OnApplicationShutdown {
  private readonly logger = new Logger('AmLease');

  constructor(@Inject(AM_LEASE) private readonly lease: AmLease) {}

  async onApplicationShutdown(): Promise<void> {
    const released = await this.lease.release();
    this.logger.log({ msg: released ? 'lease released' : 'lease left to expire' });
  }
}

interface Reply {
  status(code: number): Reply;
  header(name: string, value: string): Reply;
  send(body: unknown): void;
}

/** Every REST call to a standby (but /health and /metrics) gets 503 naming the active AM. */
@Controller()
class StandbyController {
  constructor(@Inject(AM_LEASE) private readonly lease: AmLease) {}

  @All('*')
  standby(@Res() reply: Reply): void {
    const view = this.lease.view();
    const holder = view.holder;
    const active = holder
      ? `the active AM is ${holder.id}${holder.url ? ` at ${holder.url}` : ''}`
      : 'no active AM is known yet';
    const error = new UnavailableError(`this AM (${view.self}) is a standby; ${active}`);
    reply
      .status(error.httpStatus)
      .header('retry-after', String(Math.ceil(view.leaseMs / 1000)))
      .send({ ...error.toBody(), activeAm: holder });
  }
}

/** The lease in an AM app: its health check always, the 503 answers on a standby. */
@Module({})
export class LeaseModule {
  static forActive(lease: AmLease): DynamicModule {
    return {
      module: LeaseModule,
      providers: [{ provide: AM_LEASE, useValue: lease }, LeaseHealth, LeaseRelease],
    };
  }

  /** No release here: the standby app is closed when this AM takes over, lease held. */
  static forStandby(lease: AmLease): DynamicModule {
    return {
      module: LeaseModule,
      providers: [{ provide: AM_LEASE, useValue: lease }, LeaseHealth],
      controllers: [StandbyController],
    };
  }
}

/**
 * The app of an AM while it waits for the lease: no database, no NATS handler (a standby must
 * not answer what the active answers; a shared queue group would split requests between them),
 * no timers; only /health, /metrics and the 503 answers.
 */
@Module({})
export class AmStandbyModule {
  static forRoot(config: AmConfig, lease: AmLease): DynamicModule {
    return {
      module: AmStandbyModule,
      imports: [PlatformModule.forRoot({ service: 'am', config }), LeaseModule.forStandby(lease)],
    };
  }
}
