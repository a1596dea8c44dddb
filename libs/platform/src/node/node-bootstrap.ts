import type { INestApplication } from '@nestjs/common';
import { startService } from '../bootstrap';
import { NodeAgent } from './node-agent';
import { NodeServiceModule, NodeServiceOptions } from './node-service.module';

/** Starts a node service: HTTP first (its port goes into the registration), then the agent. */
export async function startNodeService(
  options: NodeServiceOptions,
): Promise<{ app: INestApplication; port: number }> {
  const started = await startService(NodeServiceModule.forRoot(options), {
    service: options.service,
    config: options.config,
    port: options.config.PORT,
  });
  started.app.get(NodeAgent).start(started.port);
  return started;
}
