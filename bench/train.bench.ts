/**
 * npm run bench:train — examples/s of single-process training (the reference loop: same backend,
 * kernels, model and per-worker batch) next to 1 worker + 1 ps and 2 workers + 1 ps (sync and
 * async), each role a separate Node process over the shared NATS, and the share of a sync step
 * spent on the wire. The model is the reference MLP of shared/PERFORMANCE.md, batch 256. The
 * roles start with the node flags a node service hosting all of them gives (ROLE_GC auto, the
 * young generation cap); every timed process warms up first and the processes of a configuration
 * start together. The 2-core ceiling, two single processes training at once without
 * communication, is printed beside.
 * Last line: JSON {single_ex_per_s, w1ps1_ex_per_s, w2ps1_sync_ex_per_s, w2ps1_async_ex_per_s, wire_share}.
 */
import { execFileSync, fork } from 'node:child_process';
import { loadavg } from 'node:os';
import {
  encodeExample,
  RecordHeader,
  RoleConfig,
  Subjects,
  trainingSettingsSchema,
  RoleStart,
} from '@dln/contracts';
import {
  ROLE_GC_MODES,
  ROLE_SEMI_SPACE_MB,
  RoleGcMode,
  roleNodeArgs,
  runRoleProcess,
} from '@dln/cluster';
import {
  connectNats,
  ensureStream,
  jetStreamManagerOf,
  jetStreamOf,
  natsHeaders,
  NatsConnection,
  publishAll,
} from '@dln/messaging';
import { denseBinarySchema, REFERENCE_MLP, selectBackend, trainReference } from '@dln/ml';
import { roleProcessMain, runPsRole, runWorkerRole, serveEpochGate } from '@dln/ps-wire';
import { deleteStreamsOfRoot, uniqueRoot } from '@dln/testing';
import {
  LabelledExamples,
  parameterLayoutFor,
  StepTiming,
  syntheticExamples,
  wallClock,
} from '@dln/training';
import { CpuSampler } from './train/cpu-sampler';

const NATS_URL = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
const WIDTH = 64;
const BATCH = 256;
const TRAIN = Number(process.env['BENCH_TRAIN_EXAMPLES'] ?? 51_200);
const VALIDATION = 1024;
const EPOCHS = Number(process.env['BENCH_TRAIN_EPOCHS'] ?? 2);
const ROUNDS = Math.max(1, Number(process.env['BENCH_TRAIN_ROUNDS'] ?? 2));
/** A folder: every role child writes a V8 CPU profile there (node --cpu-prof), to read per-process CPU. */
const CPU_PROF_DIR = process.env['BENCH_TRAIN_CPU_PROF'];
const schema = denseBinarySchema(WIDTH);
const pipeline = 'bench';

function settings(updateMode: 'sync' | 'async') {
  return trainingSettingsSchema.parse({
    epochs: EPOCHS,
    batchSize: BATCH,
    optimizer: { kind: 'adam', learningRate: 0.001 },
    updateMode,
    seed: 3,
    checkpointEvery: 1_000_000,
  });
}

interface BenchResult {
  type: 'bench.result';
  timing: StepTiming;
}

interface SingleResult {
  type: 'bench.single';
  examples: number;
  startedAt: number;
  endedAt: number;
}

/**
 * One of two independent single processes (the 2-core ceiling): the reference loop on its half of
 * the examples, no communication, timed in wall clock comparable across processes.
 */
function singleChildMain(half: number): void {
  void selectBackend({ log: () => undefined, warn: () => undefined })
    .then(async () => {
      const count = Math.floor(TRAIN / 2);
      const data = syntheticExamples(count, WIDTH, 41 + half, `s${half}`);
      warmUp();
      await startTogether();
      const startedAt = wallClock();
      const result = trainReference(data.batch, {
        spec: REFERENCE_MLP,
        schema,
        settings: settings('sync'),
      });
      result.model.dispose();
      process.send?.(
        {
          type: 'bench.single',
          examples: count * EPOCHS,
          startedAt,
          endedAt: wallClock(),
        } satisfies SingleResult,
        () => process.exit(0),
      );
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}

/** Two single processes at once, each on half the examples: examples/s of the pair. */
async function twoIndependentProcesses(): Promise<number> {
  const children = [0, 1].map((half) => {
    const child = fork(__filename, ['--single', String(half)], {
      env: { ...process.env },
      execArgv: [],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const exited = new Promise<never>((_resolve, reject) =>
      child.once('exit', (code) =>
        reject(new Error(`independent process ${half} exited with ${code}`)),
      ),
    );
    exited.catch(() => undefined);
    const message = (type: string) =>
      Promise.race([
        exited,
        new Promise<unknown>((resolve) => {
          const listen = (m: unknown): void => {
            if ((m as { type?: string } | null)?.type !== type) return;
            child.off('message', listen);
            resolve(m);
          };
          child.on('message', listen);
        }),
      ]);
    return { child, ready: message('bench.ready'), result: message('bench.single') };
  });
  await Promise.all(children.map((c) => c.ready));
  for (const { child } of children) child.send({ type: 'bench.go' });
  const results = (await Promise.all(children.map((c) => c.result))) as SingleResult[];
  const examples = results.reduce((sum, r) => sum + r.examples, 0);
  const wall =
    Math.max(...results.map((r) => r.endedAt)) - Math.min(...results.map((r) => r.startedAt));
  return (examples / wall) * 1000;
}

/**
 * Node flags of the role processes, as a node service hosting all of them would give them
 * (ROLE_GC auto, ROLE_SEMI_SPACE_MB); BENCH_TRAIN_ROLE_GC and BENCH_TRAIN_ROLE_SEMI_SPACE_MB
 * override them.
 */
function roleArgs(roles: number): string[] {
  const mode = process.env['BENCH_TRAIN_ROLE_GC'] ?? 'auto';
  if (!(ROLE_GC_MODES as readonly string[]).includes(mode))
    throw new Error(`BENCH_TRAIN_ROLE_GC must be one of ${ROLE_GC_MODES.join(', ')}`);
  const semiSpaceMb = Number(process.env['BENCH_TRAIN_ROLE_SEMI_SPACE_MB'] ?? ROLE_SEMI_SPACE_MB);
  if (!Number.isInteger(semiSpaceMb) || semiSpaceMb < 0)
    throw new Error('BENCH_TRAIN_ROLE_SEMI_SPACE_MB must be a whole number of MB (0: V8 default)');
  return roleNodeArgs({ mode: mode as RoleGcMode, semiSpaceMb }, roles);
}

/**
 * Untimed training steps every timed process runs first. A fresh process spends its first few
 * hundred steps compiling (V8 tiers the kernels' WASM and JS up on background threads): measured
 * here, 2.5-3.1 ms of compiler CPU per step over the first 100 steps and 0.3-0.4 ms after 300,
 * with the main thread 20-30% slower meanwhile. Role processes start cold in every round, so
 * without this the clusters were timed while compiling and the single process (warm after its
 * first round) was not. The figures are the steady state of a long job.
 */
const WARM_UP_STEPS = Number(process.env['BENCH_TRAIN_WARMUP_STEPS'] ?? 300);
if (!Number.isInteger(WARM_UP_STEPS) || WARM_UP_STEPS < 0)
  throw new Error('BENCH_TRAIN_WARMUP_STEPS must be a whole number of steps (0: no warm-up)');

function warmUp(): void {
  if (WARM_UP_STEPS === 0) return;
  const perEpoch = 50;
  const data = syntheticExamples(perEpoch * BATCH, WIDTH, 97, 'w');
  const result = trainReference(data.batch, {
    spec: REFERENCE_MLP,
    schema,
    settings: { ...settings('sync'), epochs: Math.ceil(WARM_UP_STEPS / perEpoch) },
  });
  result.model.dispose();
}

/**
 * A child ready to train (a worker, or one of the independent single processes) waits for the
 * parent's go: the processes get ready (backend, examples, warm-up) hundreds of ms apart, and
 * sync training would count that spread as time the first worker spends at the barrier. Timed
 * from here, like the single process from its first step.
 */
function startTogether(): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (message: unknown): void => {
      if ((message as { type?: string } | null)?.type !== 'bench.go') return;
      process.off('message', onMessage);
      resolve();
    };
    process.on('message', onMessage);
    process.send?.({ type: 'bench.ready' });
  });
}

/** A role child: the real role runner inside @dln/cluster's role process, reporting its timings. */
function childMain(kind: string): void {
  runRoleProcess((context) =>
    roleProcessMain(`bench-${kind}`, context, process.env, (config, runtime) =>
      kind === 'ps'
        ? runPsRole(config, { ...runtime, log: () => undefined })
        : runWorkerRole(
            config,
            { ...runtime, log: () => undefined },
            {
              exportModel: false,
              beforeLoop: () => {
                warmUp();
                return startTogether();
              },
              onResult: (result) =>
                process.send?.({
                  type: 'bench.result',
                  timing: result.timing,
                } satisfies BenchResult),
            },
          ),
    ),
  );
}

async function publishSplit(
  nc: NatsConnection,
  subjects: Subjects,
  split: 'train' | 'validation',
  data: LabelledExamples,
): Promise<void> {
  const subject = subjects.examples(pipeline, 1, split);
  const { batch } = data;
  await publishAll(
    jetStreamOf(nc),
    data.recordIds.map((recordId, row) => {
      const headers = natsHeaders();
      headers.set(RecordHeader.recordId, recordId);
      const example = {
        dense: batch.dense.subarray(row * WIDTH, (row + 1) * WIDTH),
        ids: new Int32Array(0),
        label: batch.labels[row] as number,
      };
      return { subject, data: encodeExample(example), headers };
    }),
  );
}

interface RoleChild {
  pid: number;
  done: Promise<void>;
  /** A worker: resolves once it is ready to train (startTogether). */
  ready: Promise<void>;
  go(): void;
  stop(): void;
}

function startChild(
  kind: 'ps' | 'worker',
  config: RoleConfig,
  nodeArgs: readonly string[],
  onResult: (timing: StepTiming) => void,
): RoleChild {
  const child = fork(__filename, ['--role', kind], {
    env: { ...process.env, NATS_URL },
    execArgv: [
      ...(CPU_PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROF_DIR] : []),
      ...nodeArgs,
    ],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  let ready: () => void = () => undefined;
  const readyToTrain = new Promise<void>((resolve) => (ready = resolve));
  child.on('message', (message: unknown) => {
    const type = (message as { type?: string } | null)?.type;
    if (type === 'bench.result') onResult((message as BenchResult).timing);
    if (type === 'bench.ready') ready();
  });
  child.send({ type: 'dln.role.config', key: config.token.role, config });
  const done = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${config.token.role} exited with ${code}`)),
    );
  });
  return {
    pid: child.pid ?? 0,
    done,
    ready: readyToTrain,
    go: () => void child.send({ type: 'bench.go' }),
    stop: () => void child.kill('SIGTERM'),
  };
}

/** The local nats-server's pid when exactly one runs here (its CPU per step is shown too). */
function natsServerPid(): number | undefined {
  try {
    const pids = execFileSync('pgrep', ['-x', 'nats-server'], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.trim() !== '');
    return pids.length === 1 ? Number(pids[0]) : undefined;
  } catch {
    return undefined; // no pgrep, or no nats-server process
  }
}

interface ClusterFigures {
  examplesPerSecond: number;
  wireShare: number;
  stepMs: number;
  /** Per step, the time outside the gradient: pull, push, the barrier and the apply. */
  exchangeMs: number;
}

async function runCluster(
  nc: NatsConnection,
  root: string,
  jobId: string,
  workers: number,
  mode: 'sync' | 'async',
): Promise<ClusterFigures> {
  const subjects = new Subjects(root);
  const training = settings(mode);
  const config = (kind: 'worker' | 'ps', index: number): RoleConfig => ({
    token: { jobId, generation: 0, role: `${kind}-${index}`, attempt: 0 },
    kind,
    index,
    subjectRoot: root,
    jobName: 'bench',
    workers,
    shards: 1,
    model: REFERENCE_MLP,
    training,
    outputSchema: schema,
    parameters: parameterLayoutFor(REFERENCE_MLP, schema, 1),
    examples: { pipeline, version: 1, trainCount: TRAIN, validationCount: VALIDATION },
    restoreFrom: null,
    start: RoleStart.Fresh,
    resume: null,
    outputModel: 'bench',
  });
  const gate = serveEpochGate(nc, subjects, jobId, { workers, epochs: training.epochs });
  const timings: StepTiming[] = [];
  const pids = new Map<string, number>();
  const broker = natsServerPid();
  if (broker !== undefined) pids.set('nats-server', broker);
  const sampler = new CpuSampler(() => pids);
  const nodeArgs = roleArgs(workers + 1);
  const ps = startChild('ps', config('ps', 0), nodeArgs, () => undefined);
  pids.set('ps', ps.pid);
  try {
    const roles = Array.from({ length: workers }, (_, index) =>
      startChild('worker', config('worker', index), nodeArgs, (timing) => timings.push(timing)),
    );
    roles.forEach((role, index) => pids.set(`worker-${index}`, role.pid));
    // A worker that fails before it is ready ends the wait too (its exit rejects `done`).
    await Promise.race([
      Promise.all(roles.map((role) => role.ready)),
      Promise.all(roles.map((role) => role.done)),
    ]);
    for (const role of roles) role.go();
    await Promise.all(roles.map((role) => role.done));
  } finally {
    sampler.stop();
    ps.stop();
    await ps.done.catch(() => undefined);
    await gate.close();
  }
  const examples = timings.reduce((sum, t) => sum + t.examples, 0);
  const wall =
    Math.max(...timings.map((t) => t.lastStepAt)) - Math.min(...timings.map((t) => t.firstStepAt));
  const total = timings.reduce((sum, t) => sum + t.totalMs, 0);
  const wire = timings.reduce((sum, t) => sum + t.pullMs + t.pushMs - t.heldMs, 0);
  const steps = timings.reduce((sum, t) => sum + t.steps, 0);
  const line = (name: string, value: number) => `${name} ${(value / steps).toFixed(2)} ms`;
  const sum = (pick: (t: StepTiming) => number) => timings.reduce((acc, t) => acc + pick(t), 0);
  console.log(
    `  ${jobId}: ${examples} examples in ${(wall / 1000).toFixed(2)} s; per step: ${line('total', total)}, ${line(
      'compute',
      sum((t) => t.computeMs),
    )}, ${line(
      'pull',
      sum((t) => t.pullMs),
    )}, ${line(
      'push',
      sum((t) => t.pushMs),
    )} (held at ps ${(sum((t) => t.heldMs) / steps).toFixed(2)} ms); first steps ${(
      Math.max(...timings.map((t) => t.firstStepAt)) -
      Math.min(...timings.map((t) => t.firstStepAt))
    ).toFixed(1)} ms apart`,
  );
  // CPU of each role process while the steps ran, per round of one batch from every worker.
  const rounds = steps / workers;
  const cpu = sampler.cpuBetween(
    Math.min(...timings.map((t) => t.firstStepAt)),
    Math.max(...timings.map((t) => t.lastStepAt)),
  );
  const main = sampler.mainThreadBetween(
    Math.min(...timings.map((t) => t.firstStepAt)),
    Math.max(...timings.map((t) => t.lastStepAt)),
  );
  const cpuTotal = [...cpu.values()].reduce((acc, ms) => acc + ms, 0);
  console.log(
    `    CPU per step (wall ${(wall / rounds).toFixed(2)} ms): ${[...cpu]
      .map(
        ([name, ms]) =>
          `${name} ${(ms / rounds).toFixed(2)} (main thread ${((main.get(name) ?? 0) / rounds).toFixed(2)})`,
      )
      .join(', ')}; together ${(cpuTotal / rounds).toFixed(2)} ms`,
  );
  return {
    examplesPerSecond: (examples / wall) * 1000,
    wireShare: wire / total,
    stepMs: total / steps,
    exchangeMs: sum((t) => t.pullMs + t.pushMs) / steps,
  };
}

async function main(): Promise<void> {
  await selectBackend({ log: (m) => console.log(m), warn: () => undefined });
  warmUp();
  const root = uniqueRoot('bench_train');
  const subjects = new Subjects(root);
  const nc = await connectNats({ servers: NATS_URL, name: 'bench-train' });
  try {
    const train = syntheticExamples(TRAIN, WIDTH, 41, 't');
    const validation = syntheticExamples(VALIDATION, WIDTH, 42, 'v');
    await ensureStream(await jetStreamManagerOf(nc), {
      name: subjects.examplesStream(pipeline),
      subjects: [subjects.examplesEveryVersion(pipeline)],
    });
    await publishSplit(nc, subjects, 'train', train);
    await publishSplit(nc, subjects, 'validation', validation);
    console.log(
      `reference MLP 64-256-128-1, batch ${BATCH} per worker, ${TRAIN} examples x ${EPOCHS} epochs, Adam`,
    );

    // The machines are noisy (PERFORMANCE.md): every configuration runs ROUNDS times,
    // interleaved, and each keeps its best round.
    let singleRate = 0;
    let pairRate = 0;
    let w1: ClusterFigures | undefined;
    let w2sync: ClusterFigures | undefined;
    let w2async: ClusterFigures | undefined;
    const best = (a: ClusterFigures | undefined, b: ClusterFigures) =>
      a && a.examplesPerSecond >= b.examplesPerSecond ? a : b;
    for (let round = 0; round < ROUNDS; round += 1) {
      console.log(
        `round ${round + 1} of ${ROUNDS} (load average ${loadavg()
          .map((v) => v.toFixed(2))
          .join(' ')})`,
      );
      const started = performance.now();
      const cpuBefore = process.cpuUsage();
      const single = trainReference(train.batch, {
        spec: REFERENCE_MLP,
        schema,
        settings: settings('sync'),
        validation: validation.batch,
      });
      const rate = (TRAIN * EPOCHS) / ((performance.now() - started) / 1000);
      const cpu = process.cpuUsage(cpuBefore);
      const cpuPerStep = (cpu.user + cpu.system) / 1000 / ((TRAIN * EPOCHS) / BATCH);
      single.model.dispose();
      console.log(
        `  single process: ${Math.round(rate)} examples/s; CPU per step ${cpuPerStep.toFixed(2)} ms`,
      );
      singleRate = Math.max(singleRate, rate);
      const pair = await twoIndependentProcesses();
      console.log(
        `  two independent single processes at once (no communication): ${Math.round(pair)} examples/s, ${(pair / rate).toFixed(2)}x this round's single`,
      );
      pairRate = Math.max(pairRate, pair);
      w1 = best(w1, await runCluster(nc, root, `w1ps1-r${round}`, 1, 'sync'));
      w2sync = best(w2sync, await runCluster(nc, root, `w2ps1-sync-r${round}`, 2, 'sync'));
      w2async = best(w2async, await runCluster(nc, root, `w2ps1-async-r${round}`, 2, 'async'));
    }
    if (!w1 || !w2sync || !w2async) throw new Error('no rounds ran');
    const rows: [string, number][] = [
      ['single process', singleRate],
      ['2 independent processes', pairRate],
      ['1 worker + 1 ps', w1.examplesPerSecond],
      ['2 workers + 1 ps, sync', w2sync.examplesPerSecond],
      ['2 workers + 1 ps, async', w2async.examplesPerSecond],
    ];
    for (const [name, rate] of rows)
      console.log(
        `${name.padEnd(26)} ${String(Math.round(rate)).padStart(7)} ex/s  ${(rate / singleRate).toFixed(2)}x single`,
      );
    console.log(
      `2w sync / 1w: ${(w2sync.examplesPerSecond / w1.examplesPerSecond).toFixed(2)}x (goal >= 1.5); 2w sync / single: ${(w2sync.examplesPerSecond / singleRate).toFixed(2)}x (goal >= 0.8)`,
    );
    console.log(
      `2w sync / the 2-core ceiling (2 independent processes): ${(w2sync.examplesPerSecond / pairRate).toFixed(2)}x; the 0.8x-single goal asks for ${((0.8 * singleRate) / pairRate).toFixed(2)}x of it`,
    );
    // What the 1.5x goal leaves for communication: a 2-worker round at 1.5x the 1-worker rate,
    // less the two gradients computed at the pace of two independent processes.
    const goalRoundMs = (1000 * 2 * BATCH) / (1.5 * w1.examplesPerSecond);
    const ceilingStepMs = (1000 * 2 * BATCH) / pairRate;
    console.log(
      `the 1.5x goal asks for a 2-worker round of <= ${goalRoundMs.toFixed(2)} ms; the two gradients take ${ceilingStepMs.toFixed(2)} ms at the 2-core ceiling's pace, leaving ${(goalRoundMs - ceilingStepMs).toFixed(2)} ms to push both, combine, apply and send the values back; 1 worker + 1 ps spends ${w1.exchangeMs.toFixed(2)} ms per step on that for one gradient`,
    );
    console.log(
      `wire share of a 2-worker sync step (${w2sync.stepMs.toFixed(2)} ms): ${(w2sync.wireShare * 100).toFixed(1)}% (goal <= 40%)`,
    );
    console.log(
      JSON.stringify({
        single_ex_per_s: Math.round(singleRate),
        w1ps1_ex_per_s: Math.round(w1.examplesPerSecond),
        w2ps1_sync_ex_per_s: Math.round(w2sync.examplesPerSecond),
        w2ps1_async_ex_per_s: Math.round(w2async.examplesPerSecond),
        wire_share: Number(w2sync.wireShare.toFixed(3)),
      }),
    );
  } finally {
    await deleteStreamsOfRoot(nc, root);
    await nc.drain();
  }
}

if (process.argv[2] === '--role') {
  childMain(process.argv[3] ?? 'worker');
} else if (process.argv[2] === '--single') {
  singleChildMain(Number(process.argv[3] ?? 0));
} else {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
