import type { NatsConnection } from '@dln/messaging';
import { Controller, Get, Inject, Injectable, Optional, Res } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { DATA_SOURCE, NATS_CONNECTION, SERVICE_NAME } from './tokens';

export interface HealthCheck {
  ok: boolean;
  detail?: string;
}

/** Extra checks a service adds to /health (e.g. a node's running roles). */
export interface HealthContributor {
  name: string;
  check(): Promise<HealthCheck & Record<string, unknown>>;
}

/**
 * Contributors are registered at start-up by the module that owns them (`HealthService.register`
 * in its `onModuleInit`): a provider declared in an app module is not visible to this global
 * service through injection.
 */

@Injectable()
export class HealthService {
  constructor(
    @Inject(SERVICE_NAME) private readonly service: string,
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnection,
    @Optional() @Inject(DATA_SOURCE) private readonly dataSource?: DataSource,
  ) {}

  private readonly contributors: HealthContributor[] = [];

  /** Adds a check to /health; the service is unavailable while any check fails. */
  register(contributor: HealthContributor): void {
    if (this.contributors.some((known) => known.name === contributor.name)) {
      throw new Error(`a health check named "${contributor.name}" is registered already`);
    }
    this.contributors.push(contributor);
  }

  async report(): Promise<{
    status: 'ok' | 'unavailable';
    service: string;
    checks: Record<string, HealthCheck>;
  }> {
    const checks: Record<string, HealthCheck> = { nats: await this.checkNats() };
    if (this.dataSource) checks['database'] = await this.checkDatabase(this.dataSource);
    for (const contributor of this.contributors) {
      checks[contributor.name] = await contributor
        .check()
        .catch((err: unknown) => ({ ok: false, detail: String(err) }));
    }
    const ok = Object.values(checks).every((check) => check.ok);
    return { status: ok ? 'ok' : 'unavailable', service: this.service, checks };
  }

  private async checkNats(): Promise<HealthCheck> {
    if (this.nats.isClosed()) return { ok: false, detail: 'connection closed' };
    try {
      const rtt = await Promise.race([
        this.nats.rtt(),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error('no answer in 2 s')), 2_000),
        ),
      ]);
      return { ok: true, detail: `${this.nats.getServer()} rtt ${rtt.toFixed(2)} ms` };
    } catch (err) {
      return { ok: false, detail: err instanceof Error ? err.message : String(err) };
    }
  }

  private async checkDatabase(dataSource: DataSource): Promise<HealthCheck> {
    try {
      await dataSource.query('SELECT 1');
      return { ok: true, detail: dataSource.options.type };
    } catch (err) {
      return { ok: false, detail: err instanceof Error ? err.message : String(err) };
    }
  }
}

@Controller()
export class HealthController {
  constructor(private readonly health: HealthService) {}

  @Get('health')
  async report(
    @Res() reply: { status(code: number): { send(body: unknown): void } },
  ): Promise<void> {
    const report = await this.health.report();
    reply.status(report.status === 'ok' ? 200 : 503).send(report);
  }
}
