import { DynamicModule, Module } from '@nestjs/common';
import { NodeCommander } from './node-commander';
import { NodeRegistryService } from './node-registry.service';
import { NodesController } from './nodes.controller';
import { NodesHandlers } from './nodes.handlers';
import { NODE_REGISTRY_SETTINGS, NodeRegistrySettings } from './nodes.tokens';

/** The node registry of the AM: REST view, NATS handlers, the registry and the commander. */
@Module({})
export class NodesModule {
  static forRoot(settings: NodeRegistrySettings): DynamicModule {
    return {
      module: NodesModule,
      controllers: [NodesController, NodesHandlers],
      providers: [
        { provide: NODE_REGISTRY_SETTINGS, useValue: settings },
        NodeRegistryService,
        NodeCommander,
      ],
      exports: [NodeRegistryService, NodeCommander],
    };
  }
}
