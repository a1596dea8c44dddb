import { createServiceApp, JsonLogger, startService } from '@dln/platform';
import { DynamicModule, Module } from '@nestjs/common';
import type { AmConfig } from '../am.config';
import { AmModule } from '../am.module';
import { AmLease } from './am-lease';
import { AmStandbyModule, LeaseModule } from './lease.module';

/** Exit code of an AM that lost its lease: it stops at once; its supervisor starts it again as a standby. */
export const LEASE_LOST_EXIT_CODE = 3;

/** The full AM plus the lease's health check. */
@Module({})
class AmActiveModule {
  static forRoot(config: AmConfig, lease: AmLease): DynamicModule {
    return {
      module: AmActiveModule,
      imports: [AmModule.forRoot(config), LeaseModule.forActive(lease)],
    };
  }
}

/**
 * An AM with PostgreSQL: a standby (no database, no NATS handler, 503 on REST) until it holds
 * the lease, then the AM proper, started the way a restarted AM starts (every live job and node
 * reloaded from the database) on the same port. Losing the lease ends the process at once, so
 * nothing it had in flight can act after a standby may have taken over.
 */
export async function runWithLease(config: AmConfig): Promise<void> {
  const logger = new JsonLogger('am', config.LOG_LEVEL);
  const log = (entry: Record<string, unknown>) =>
    logger.log({ amId: config.AM_ID, ...entry }, 'AmLease');
  const lease = await AmLease.open(config, (error) =>
    logger.error({ msg: 'lease loop failed', amId: config.AM_ID, error: String(error) }, 'AmLease'),
  );
  lease.onLost((reason) => {
    logger.error({ msg: 'lease lost: stopping at once', amId: config.AM_ID, reason }, 'AmLease');
    process.exit(LEASE_LOST_EXIT_CODE);
  });
  const standby = await startService(AmStandbyModule.forRoot(config, lease), {
    service: 'am',
    config,
    port: config.PORT,
  });
  log({ msg: 'standby: waiting for the lease', leaseMs: config.AM_LEASE_MS });
  await lease.acquire();
  const acquiredAt = Date.now();
  log({ msg: 'lease acquired: reloading state' });
  const app = await createServiceApp(AmActiveModule.forRoot(config, lease), {
    service: 'am',
    config,
  });
  await standby.app.close();
  await app.listen(standby.port, config.HOST);
  // Always printed: launchers and tests read the bound port from it.
  new JsonLogger('am', 'info').log({ msg: 'listening', port: standby.port }, 'Bootstrap');
  log({ msg: 'active', startMs: Date.now() - acquiredAt });
}
