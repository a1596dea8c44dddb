import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

interface Sample {
  /** Wall clock, ms since the Unix epoch (comparable with StepTiming.firstStepAt). */
  at: number;
  /** utime + stime of the process, ms. */
  cpuMs: number;
  /** utime + stime of its main thread (the JavaScript one), ms; the rest is GC, compiler, libuv. */
  mainMs: number;
}

function cpuMsOf(pid: number, mainThreadOnly = false): number | undefined {
  try {
    const stat = readFileSync(
      mainThreadOnly ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`,
      'utf8',
    );
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1000) / TICKS_PER_SECOND : undefined;
  } catch {
    return undefined; // exited, or no /proc
  }
}

/**
 * Samples the CPU time of child processes every few ms, so that the CPU each one spent inside a
 * wall-clock window (the training steps) can be read afterwards: a figure that a loaded, noisy
 * machine disturbs far less than examples/s.
 */
export class CpuSampler {
  private readonly samples = new Map<string, Sample[]>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pids: () => ReadonlyMap<string, number>,
    everyMs = 20,
  ) {
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** CPU ms each process spent between `from` and `to` (wall clock ms), interpolated. */
  cpuBetween(from: number, to: number): Map<string, number> {
    return this.between(from, to, (s) => s.cpuMs);
  }

  /** CPU ms of each process's main thread between `from` and `to`. */
  mainThreadBetween(from: number, to: number): Map<string, number> {
    return this.between(from, to, (s) => s.mainMs);
  }

  private between(from: number, to: number, pick: (s: Sample) => number): Map<string, number> {
    const result = new Map<string, number>();
    for (const [name, samples] of this.samples) {
      const start = interpolate(samples, from, pick);
      const end = interpolate(samples, to, pick);
      if (start !== undefined && end !== undefined) result.set(name, end - start);
    }
    return result;
  }

  private sample(): void {
    const at = performance.timeOrigin + performance.now();
    for (const [name, pid] of this.pids()) {
      const cpuMs = cpuMsOf(pid);
      const mainMs = cpuMsOf(pid, true);
      if (cpuMs === undefined || mainMs === undefined) continue;
      const list = this.samples.get(name) ?? [];
      list.push({ at, cpuMs, mainMs });
      this.samples.set(name, list);
    }
  }
}

function interpolate(
  samples: readonly Sample[],
  at: number,
  pick: (s: Sample) => number,
): number | undefined {
  if (samples.length === 0) return undefined;
  const first = samples[0] as Sample;
  if (at <= first.at) return pick(first);
  for (let i = 1; i < samples.length; i += 1) {
    const b = samples[i] as Sample;
    if (b.at < at) continue;
    const a = samples[i - 1] as Sample;
    return pick(a) + ((pick(b) - pick(a)) * (at - a.at)) / Math.max(1e-9, b.at - a.at);
  }
  return pick(samples[samples.length - 1] as Sample);
}
