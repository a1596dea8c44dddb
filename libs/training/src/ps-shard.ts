import {
  ConflictError,
  DlnError,
  ErrorCode,
  FencingToken,
  OptimizerSettings,
} from '@dln/contracts';
import { createOptimizer, FlatOptimizer } from '@dln/ml';
import { FencedError, FencingGuard, roleIndex } from './fencing-guard';
import { SequenceSet } from './sequence-set';
import { ShardState } from './shard-checkpoint';

/** What the shard answers a push: where it stands once the push has been taken into account. */
export interface PushAck {
  /** Sync: steps applied so far; async: updates applied so far. */
  step: number;
  updateCount: number;
  /** Milliseconds the push was held at the shard (the sync barrier and the apply). */
  heldMs: number;
}

export interface PsShardOptions {
  /** The shard's own token: its job and generation fence every request. */
  token: FencingToken;
  shard: number;
  workers: number;
  mode: 'sync' | 'async';
  optimizer: OptimizerSettings;
  /** Initial packed values of the shard (copied), unless `restore` is given. */
  params?: Float32Array;
  restore?: ShardState;
  /** Take a checkpoint after every this many steps (sync) or updates (async). */
  checkpointEvery?: number;
  onCheckpoint?: (state: ShardState) => void;
  now?: () => number;
}

interface Contribution {
  count: number;
  /** The worker's gradient, copied into its own buffer of `received` (null when count is 0). */
  gradient: Float32Array | null;
  waiters: { resolve: (ack: PushAck) => void; reject: (error: Error) => void; at: number }[];
}

/**
 * One parameter-server shard: its variables, its optimizer, and the update rule. Sync: the W
 * pushes of step s are combined weighted by their example counts (sum of c_i * g_i / sum of c_i,
 * in worker order), applied once, and only then answered; a worker out of data pushes count 0.
 * Async: each push is applied on arrival. Free of any transport.
 */
export class PsShard {
  readonly size: number;
  private readonly params: Float32Array;
  private readonly optimizer: FlatOptimizer;
  private readonly guard: FencingGuard;
  private readonly pending: (Contribution | undefined)[];
  /**
   * Sync: one buffer per worker that its pending gradient is copied into (the pushed array views
   * a NATS message), allocated once: a new 200 KB array per push costs more than the copy.
   */
  private readonly received: Float32Array[];
  private readonly pullWaiters: { step: number; resolve: () => void }[] = [];
  private readonly positions: Record<string, number>;
  /**
   * Stream training: the stream sequences whose batches this shard took (StreamBatches keeps it
   * up to date). Part of the shard's state: a shard restored from a checkpoint still recognises
   * a redelivered batch it applied before the checkpoint.
   */
  readonly streamSequences: SequenceSet;
  private readonly now: () => number;
  private stepCount: number;
  private updates: number;

  constructor(private readonly options: PsShardOptions) {
    const initial = options.restore?.params ?? options.params;
    if (!initial) throw new Error('a ps shard needs initial parameters or a state to restore');
    this.size = initial.length;
    this.params = Float32Array.from(initial);
    this.optimizer = createOptimizer(options.optimizer, this.size, options.restore?.optimizer);
    this.guard = new FencingGuard(options.token);
    this.pending = new Array<Contribution | undefined>(options.workers).fill(undefined);
    this.received =
      options.mode === 'sync'
        ? Array.from({ length: options.workers }, () => new Float32Array(this.size))
        : [];
    this.stepCount = options.restore?.step ?? 0;
    this.updates = options.restore?.updateCount ?? 0;
    this.positions = { ...(options.restore?.positions ?? {}) };
    this.streamSequences = SequenceSet.fromRanges(options.restore?.streamSequences ?? []);
    this.now = options.now ?? (() => performance.now());
  }

  get step(): number {
    return this.stepCount;
  }

  get updateCount(): number {
    return this.updates;
  }

  /**
   * The shard's values for `step`: in sync mode waits until the steps before it are applied.
   * The array is the live one: read (encode) it before yielding to the event loop.
   */
  async pull(token: FencingToken, step: number): Promise<Float32Array> {
    this.admit(token);
    if (this.options.mode === 'sync' && step > this.stepCount) {
      await new Promise<void>((resolve) => this.pullWaiters.push({ step, resolve }));
    }
    return this.params;
  }

  /** Takes a worker's mean gradient over `count` examples (null or empty when count is 0). */
  push(
    token: FencingToken,
    step: number,
    count: number,
    gradient: Float32Array | null,
  ): Promise<PushAck> {
    try {
      return this.take(token, step, count, gradient);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  private take(
    token: FencingToken,
    step: number,
    count: number,
    gradient: Float32Array | null,
  ): Promise<PushAck> {
    const worker = this.admit(token);
    if (!Number.isInteger(count) || count < 0)
      throw new DlnError(ErrorCode.InvalidRequest, `bad example count ${count}`);
    if (count > 0) this.checkGradient(gradient);
    const at = this.now();
    if (this.options.mode === 'async') {
      // A worker's async steps only grow: an earlier one is a re-send (NATS restart, a reply
      // lost, a replacement resuming at the slowest shard's position) that was applied already.
      if (step < (this.positions[token.role] ?? 0)) return Promise.resolve(this.ack(at));
      if (count > 0) this.apply(gradient as Float32Array);
      this.positions[token.role] = step + 1;
      return Promise.resolve({
        step: this.updates,
        updateCount: this.updates,
        heldMs: this.now() - at,
      });
    }
    if (step < this.stepCount) {
      // A retry of a push that was applied already: answer it again, apply nothing.
      return Promise.resolve(this.ack(at));
    }
    if (step > this.stepCount) {
      throw new ConflictError(
        `${token.role} pushed step ${step}, shard ${this.options.shard} is at step ${this.stepCount}`,
      );
    }
    return new Promise<PushAck>((resolve, reject) => {
      const existing = this.pending[worker];
      if (existing) {
        existing.waiters.push({ resolve, reject, at });
        return;
      }
      const copy = count > 0 ? this.keep(worker, gradient as Float32Array) : null;
      this.pending[worker] = { count, gradient: copy, waiters: [{ resolve, reject, at }] };
      if (this.pending.every((part) => part !== undefined)) this.completeStep();
    });
  }

  private keep(worker: number, gradient: Float32Array): Float32Array {
    const buffer = this.received[worker] as Float32Array;
    buffer.set(gradient);
    return buffer;
  }

  /**
   * Per worker index, the next step this shard expects from it: every push before it was
   * acknowledged (sync: the step being collected). Any role of the job may ask; a worker's new
   * attempt asking drops what its predecessor left pending.
   */
  positionsFor(token: FencingToken): number[] {
    if (token.role.startsWith('worker-')) this.admit(token);
    else this.guard.admit(token);
    return Array.from({ length: this.options.workers }, (_, worker) =>
      this.options.mode === 'sync' ? this.stepCount : (this.positions[`worker-${worker}`] ?? 0),
    );
  }

  /**
   * A notice: `by` replaced its role. Every older attempt is refused from now on; in sync mode
   * what the old incarnation pushed for the current step is dropped (the replacement resumes at
   * this step and delivers it again). True when `by` was news.
   */
  supersede(by: FencingToken): boolean {
    if (!this.guard.supersede(by) || !by.role.startsWith('worker-')) return false;
    const worker = roleIndex(by.role);
    if (worker < this.options.workers) this.dropPending(worker, by);
    return true;
  }

  /** A copy of everything needed to continue from here. */
  snapshot(): ShardState {
    return {
      jobId: this.options.token.jobId,
      generation: this.options.token.generation,
      shard: this.options.shard,
      step: this.stepCount,
      updateCount: this.updates,
      params: Float32Array.from(this.params),
      optimizer: this.optimizer.snapshot(),
      positions: { ...this.positions },
      streamSequences: this.streamSequences.toRanges(),
    };
  }

  /** Fails every push still waiting (the shard is stopping). */
  close(reason: Error): void {
    for (const part of this.pending)
      for (const waiter of part?.waiters ?? []) waiter.reject(reason);
    this.pending.fill(undefined);
  }

  private admit(token: FencingToken): number {
    const newAttempt = this.guard.admit(token);
    const worker = roleIndex(token.role);
    if (!token.role.startsWith('worker-') || worker >= this.options.workers) {
      throw new FencedError(
        `${token.role} is not a worker of this job (${this.options.workers} workers)`,
      );
    }
    if (newAttempt) this.dropPending(worker, token);
    return worker;
  }

  /** The worker was replaced: what its old incarnation pushed for this step no longer counts. */
  private dropPending(worker: number, by: FencingToken): void {
    const stale = this.pending[worker];
    if (!stale) return;
    this.pending[worker] = undefined;
    for (const waiter of stale.waiters)
      waiter.reject(new FencedError(`${by.role} was replaced by attempt ${by.attempt}`));
  }

  private checkGradient(gradient: Float32Array | null): void {
    if (!gradient || gradient.length !== this.size) {
      throw new DlnError(
        ErrorCode.InvalidRequest,
        `gradient has ${gradient?.length ?? 0} values, shard ${this.options.shard} holds ${this.size}`,
      );
    }
    for (let i = 0; i < gradient.length; i += 1) {
      if (!Number.isFinite(gradient[i]))
        throw new DlnError(ErrorCode.InvalidRequest, `gradient value ${i} is not finite`);
    }
  }

  private completeStep(): void {
    const parts = [...this.pending] as Contribution[];
    const total = parts.reduce((sum, part) => sum + part.count, 0);
    const contributors = parts.filter((part) => part.count > 0 && part.gradient);
    if (total > 0) {
      // Combined inside the optimizer's loop: the combination sits on every worker's critical path.
      this.optimizer.applyWeighted(
        this.params,
        contributors.map((part) => part.gradient as Float32Array),
        contributors.map((part) => part.count / total),
      );
      this.updates += 1;
    }
    this.stepCount += 1;
    this.pending.fill(undefined);
    parts.forEach((_part, worker) => {
      this.positions[`worker-${worker}`] = this.stepCount;
    });
    this.maybeCheckpoint(this.stepCount);
    for (const part of parts)
      for (const waiter of part.waiters) waiter.resolve(this.ack(waiter.at));
    for (let i = this.pullWaiters.length - 1; i >= 0; i -= 1) {
      const waiter = this.pullWaiters[i] as { step: number; resolve: () => void };
      if (waiter.step <= this.stepCount) {
        this.pullWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  private apply(gradient: Float32Array, checkpoint = true): void {
    this.optimizer.apply(this.params, gradient);
    this.updates += 1;
    // Async: a step is an update, so checkpoints of every shard line up on the same numbers.
    if (this.options.mode === 'async') this.stepCount = this.updates;
    if (checkpoint) this.maybeCheckpoint(this.updates);
  }

  private maybeCheckpoint(progress: number): void {
    const every = this.options.checkpointEvery;
    if (every && this.options.onCheckpoint && progress > 0 && progress % every === 0) {
      this.options.onCheckpoint(this.snapshot());
    }
  }

  private ack(at: number): PushAck {
    return { step: this.stepCount, updateCount: this.updates, heldMs: this.now() - at };
  }
}
