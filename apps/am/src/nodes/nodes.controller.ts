import { NodeDetail, NodeList, parseInput, resourceName } from '@dln/contracts';
import { Controller, Get, Param } from '@nestjs/common';
import { NodeRegistryService } from './node-registry.service';

/** REST view of the node registry. */
@Controller('v1/nodes')
export class NodesController {
  constructor(private readonly registry: NodeRegistryService) {}

  @Get()
  list(): NodeList {
    return { nodes: this.registry.list() };
  }

  @Get(':id')
  async detail(@Param('id') id: string): Promise<NodeDetail> {
    return this.registry.detail(parseInput(resourceName, id, 'node id'));
  }
}
