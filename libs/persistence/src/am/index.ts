import { AmNodes1764000000000 } from './node.migrations';
import { NodeEventRow, NodeRow } from './node.entities';

export { NodeEventRow, NodeRow } from './node.entities';

/** Everything the am keeps in SQL; each area appends its entities and migrations (in order). */
export const AM_ENTITIES = [NodeRow, NodeEventRow];
export const AM_MIGRATIONS = [AmNodes1764000000000];
