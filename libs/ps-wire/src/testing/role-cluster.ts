import {
  encodeExample,
  ModelSpec,
  OutputSchema,
  RecordHeader,
  RoleConfig,
  RoleReport,
  roleReportSchema,
  Subjects,
  TrainingSettings,
} from '@dln/contracts';
import {
  connectNats,
  decodeJson,
  jetStreamOf,
  natsHeaders,
  NatsConnection,
  publishAll,
} from '@dln/messaging';
import { LabelledExamples, parameterLayoutFor, WorkerResult } from '@dln/training';
import { serveEpochGate } from '../gate-service';
import { runPsRole } from '../roles/ps-role';
import { RoleRuntime } from '../roles/role-runtime';
import { runWorkerRole } from '../roles/worker-role';

/** Publishes examples as the feature service does: one message per record, with its id header. */
export async function publishExamples(
  nc: NatsConnection,
  subject: string,
  data: LabelledExamples,
): Promise<void> {
  const { batch } = data;
  await publishAll(
    jetStreamOf(nc),
    data.recordIds.map((recordId, row) => {
      const headers = natsHeaders();
      headers.set(RecordHeader.recordId, recordId);
      const example = {
        dense: batch.dense.subarray(row * batch.denseWidth, (row + 1) * batch.denseWidth),
        ids: batch.ids.subarray(row * batch.idCount, (row + 1) * batch.idCount),
        label: batch.labels[row] as number,
      };
      return { subject, data: encodeExample(example), headers };
    }),
  );
}

export interface RoleClusterOptions {
  natsUrl: string;
  root: string;
  jobId: string;
  generation?: number;
  workers: number;
  shards: number;
  model: ModelSpec;
  schema: OutputSchema;
  training: TrainingSettings;
  examples: RoleConfig['examples'];
  restoreFrom?: string | null;
  /** Worker 0 exports the model (needs the feature service's pipelineDescribe); default false. */
  exportModel?: boolean;
}

export interface RoleClusterRun {
  results: WorkerResult[];
  reports: RoleReport[];
}

/**
 * Runs a job's ps and worker roles in this process (each with its own NATS connection, as in
 * their own processes) with the epoch gate standing in for the AM, until the workers finish.
 */
export async function runRoleCluster(options: RoleClusterOptions): Promise<RoleClusterRun> {
  const { root, jobId, workers, shards, training } = options;
  const subjects = new Subjects(root);
  const layout = parameterLayoutFor(options.model, options.schema, shards);
  const config = (kind: 'worker' | 'ps', index: number): RoleConfig => ({
    token: { jobId, generation: options.generation ?? 0, role: `${kind}-${index}`, attempt: 0 },
    kind,
    index,
    subjectRoot: root,
    jobName: jobId,
    workers,
    shards,
    model: options.model,
    training,
    outputSchema: options.schema,
    parameters: layout,
    examples: options.examples,
    restoreFrom: options.restoreFrom ?? null,
    start: options.restoreFrom ? 'rollback' : 'fresh',
    resume: null,
    outputModel: 'cluster-test',
  });
  const observer = await connectNats({ servers: options.natsUrl, name: `${jobId}-observer` });
  const reports: RoleReport[] = [];
  observer.subscribe(subjects.jobReports(jobId), {
    callback: (_error, msg) => {
      reports.push(roleReportSchema.parse(decodeJson(msg.data)));
    },
  });
  const gate = serveEpochGate(observer, subjects, jobId, { workers, epochs: training.epochs });
  const stop = new AbortController();
  const runtime = async (name: string): Promise<RoleRuntime> => ({
    nc: await connectNats({ servers: options.natsUrl, name }),
    signal: stop.signal,
    ready: () => undefined,
    log: () => undefined,
  });
  const psRuntimes = await Promise.all(
    Array.from({ length: shards }, (_, i) => runtime(`${jobId}-ps-${i}`)),
  );
  const workerRuntimes = await Promise.all(
    Array.from({ length: workers }, (_, i) => runtime(`${jobId}-worker-${i}`)),
  );
  const psRuns = Promise.all(psRuntimes.map((rt, i) => runPsRole(config('ps', i), rt)));
  psRuns.catch(() => undefined); // observed below; a failing shard also fails the workers' requests
  const results: WorkerResult[] = [];
  try {
    await Promise.all(
      workerRuntimes.map((rt, i) =>
        runWorkerRole(
          config('worker', i),
          { ...rt, signal: new AbortController().signal },
          {
            exportModel: options.exportModel ?? false,
            onResult: (result) => (results[i] = result),
          },
        ),
      ),
    );
  } finally {
    stop.abort();
    await psRuns.catch(() => undefined);
    await gate.close();
    for (const rt of [...psRuntimes, ...workerRuntimes]) await rt.nc.drain();
    await observer.flush();
    await observer.drain();
  }
  await psRuns;
  return { results, reports };
}
