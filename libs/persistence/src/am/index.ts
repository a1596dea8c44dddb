import { AmNodes1764000000000 } from './node.migrations';
import { NodeEventRow, NodeRow } from './node.entities';
import { AmJobs1764100000000 } from './job.migrations';
import { AmJobFailover1764200000000 } from './job-failover.migrations';
import { JobCheckpointRow, JobEventRow, JobRoleRow, JobRow, ModelVersionRow } from './job.entities';

export { NodeEventRow, NodeRow } from './node.entities';
export { JobCheckpointRow, JobEventRow, JobRoleRow, JobRow, ModelVersionRow } from './job.entities';

/** Everything the am keeps in SQL; each area appends its entities and migrations (in order). */
export const AM_ENTITIES = [
  NodeRow,
  NodeEventRow,
  JobRow,
  JobRoleRow,
  JobEventRow,
  JobCheckpointRow,
  ModelVersionRow,
];
export const AM_MIGRATIONS = [
  AmNodes1764000000000,
  AmJobs1764100000000,
  AmJobFailover1764200000000,
];
