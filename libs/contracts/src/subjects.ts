import { NAME_PATTERN, NAME_RULE } from './names';

/** Subjects live under one configurable root so that deployments and tests never collide. */
export const DEFAULT_SUBJECT_ROOT = 'dln';

/**
 * Root-relative patterns of the request/reply handlers that services register with the Nest
 * NATS transport; the transport prefixes the configured root. Only these may appear in
 * `@MessagePattern` decorators.
 */
export const ControlPattern = {
  /** node -> am: register a node (request, NodeRegistration -> NodeRegistrationAck). */
  nodeRegister: 'am.nodes.register',
  /** node -> am: heartbeat (request, NodeHeartbeat -> NodeHeartbeatReply). */
  nodeHeartbeat: 'am.nodes.heartbeat',
  /** node -> am: a role process ended (request, RoleExitReport -> RoleExitAck). */
  roleExit: 'am.roles.exit',
  /** any -> am: list the model catalogue (request). */
  modelCatalogue: 'am.models.catalogue',
  /** any -> ingest: describe a source (request, SourceLookup -> SourceDescription). */
  sourceDescribe: 'ingest.sources.describe',
  /** producer -> ingest: ingest records into any source (request, records -> IngestAck). */
  ingestRecords: 'ingest.records.*',
  /** role -> am: job role reports (event, RoleReport), any job. */
  jobReports: 'jobs.*.reports',
  /** worker -> am: end of an epoch; the reply says whether to go on (request). */
  epochGate: 'am.jobs.epoch-gate',
  /** any -> feature: describe a fitted pipeline version (request, PipelineDescribeRequest -> PipelineVersion). */
  pipelineDescribe: 'feature.pipelines.describe',
  /** am -> feature: fit and materialize a pipeline (request, PipelinePrepareRequest -> PipelinePrepareReply; can take minutes). */
  pipelinePrepare: 'feature.pipelines.prepare',
  /** any -> feature: a stream pipeline's snapshot version (request, StreamSnapshotRequest -> StreamSnapshot). */
  streamSnapshot: 'feature.streams.snapshot',
  /** prediction -> feature: per-key aggregates of a record at a time (request, StreamAggregatesRequest -> StreamAggregatesReply). */
  streamAggregates: 'feature.streams.aggregates',
  /** prediction -> feature: per-key aggregates of many records (request, StreamAggregatesBatchRequest -> StreamAggregatesBatchReply). */
  streamAggregatesBatch: 'feature.streams.aggregates-batch',
} as const;
export type ControlPattern = (typeof ControlPattern)[keyof typeof ControlPattern];

function token(kind: string, value: string): string {
  if (!NAME_PATTERN.test(value))
    throw new Error(`${kind} "${value}" is not a valid name: ${NAME_RULE}`);
  return value;
}

function integerToken(kind: string, value: number): string {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new Error(`${kind} must be a non-negative integer`);
  return String(value);
}

function streamToken(value: string): string {
  return value.toUpperCase();
}

/**
 * Every concrete subject and stream name of one deployment, built from its root. Call sites use
 * these builders; no subject string is spelled anywhere else.
 */
export class Subjects {
  readonly root: string;

  constructor(root: string = DEFAULT_SUBJECT_ROOT) {
    this.root = token('subject root', root);
  }

  /** Full subject of a root-relative control pattern. */
  control(pattern: ControlPattern): string {
    return `${this.root}.${pattern}`;
  }

  /** Request subject to ingest records into one source. */
  ingest(source: string): string {
    return `${this.root}.ingest.records.${token('source', source)}`;
  }

  /** Rejected records of a source with their reasons (core NATS, plain JSON). */
  deadLetter(source: string): string {
    return `${this.root}.dlq.${token('source', source)}`;
  }

  /** One partition of a source's raw stream. */
  raw(source: string, partition: number): string {
    return `${this.root}.raw.${token('source', source)}.${integerToken('partition', partition)}`;
  }

  /** Every partition of a source's raw stream. */
  rawAll(source: string): string {
    return `${this.root}.raw.${token('source', source)}.*`;
  }

  rawStream(source: string): string {
    return `${streamToken(this.root)}_RAW_${token('source', source)}`;
  }

  /** Materialized examples of one fitted pipeline version, split into train/validation. */
  examples(pipeline: string, version: number, split: 'train' | 'validation'): string {
    return `${this.root}.examples.${token('pipeline', pipeline)}.${integerToken('version', version)}.${split}`;
  }

  examplesAll(pipeline: string, version: number): string {
    return `${this.root}.examples.${token('pipeline', pipeline)}.${integerToken('version', version)}.*`;
  }

  /** Every version and split of a pipeline's examples: the subjects of its examples stream. */
  examplesEveryVersion(pipeline: string): string {
    return `${this.root}.examples.${token('pipeline', pipeline)}.>`;
  }

  examplesStream(pipeline: string): string {
    return `${streamToken(this.root)}_EX_${token('pipeline', pipeline)}`;
  }

  /** Examples of a stream pipeline, one per event (JetStream, de-duplicated by `<pipeline>:<event id>`). */
  streamExamples(pipeline: string): string {
    return `${this.root}.stream-examples.${token('pipeline', pipeline)}`;
  }

  streamExamplesStream(pipeline: string): string {
    return `${streamToken(this.root)}_SEX_${token('pipeline', pipeline)}`;
  }

  /** Commands from the AM to one node (assign, stop roles). */
  nodeCommands(nodeId: string): string {
    return `${this.root}.nodes.${token('node id', nodeId)}.commands`;
  }

  /** Job lifecycle events (state transitions, progress). */
  jobEvents(jobId: string): string {
    return `${this.root}.jobs.${token('job id', jobId)}.events`;
  }

  /** Role reports of one job (RoleReport events, to the AM). */
  jobReports(jobId: string): string {
    return `${this.root}.jobs.${token('job id', jobId)}.reports`;
  }

  /** AM -> the roles of one job: failover notices (JobControlNotice: a role replaced, a new generation). */
  jobControl(jobId: string): string {
    return `${this.root}.jobs.${token('job id', jobId)}.control`;
  }

  jobEventsAll(): string {
    return `${this.root}.jobs.*.events`;
  }

  /** Parameter-server requests for one shard of one job. */
  psPull(jobId: string, shard: number): string {
    return `${this.root}.ps.${token('job id', jobId)}.${integerToken('shard', shard)}.pull`;
  }

  psPush(jobId: string, shard: number): string {
    return `${this.root}.ps.${token('job id', jobId)}.${integerToken('shard', shard)}.push`;
  }

  /** New model versions are announced here (core NATS). */
  modelAnnouncements(): string {
    return `${this.root}.models.announce`;
  }

  /** Scores of records, one message per record, for downstream consumers (JetStream). */
  predictions(model: string): string {
    return `${this.root}.predictions.${token('model', model)}`;
  }

  predictionsStream(model: string): string {
    return `${streamToken(this.root)}_PRED_${token('model', model)}`;
  }

  /** KV bucket and Object Store names (`scorers`: the prediction service's scorer specs). */
  bucket(purpose: 'nodes' | 'features' | 'lease' | 'checkpoints' | 'models' | 'scorers'): string {
    return `${streamToken(this.root)}_${purpose.toUpperCase()}`;
  }
}
