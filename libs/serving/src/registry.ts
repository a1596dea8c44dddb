import { DlnError, ErrorCode, NotFoundError } from '@dln/contracts';
import { ServedVersion } from './served-version';

/** TensorFlow Serving's version states. */
export const VersionState = {
  Start: 'START',
  Loading: 'LOADING',
  Available: 'AVAILABLE',
  Unloading: 'UNLOADING',
  End: 'END',
} as const;
export type VersionState = (typeof VersionState)[keyof typeof VersionState];

/** One version as `GET /v1/models/{name}` shows it. */
export interface VersionStatus {
  version: number;
  state: VersionState;
  isDefault: boolean;
  error?: string;
}

interface VersionEntry {
  state: VersionState;
  error?: string;
  served?: ServedVersion;
}

interface ModelEntry {
  versions: Map<number, VersionEntry>;
  /** The default the catalogue asks for; served once it is available. */
  wanted: number | null;
  /** The default served now: stays until the wanted one is available, so a swap never gaps. */
  serving: number | null;
}

/** The versions of every model this instance knows, their states, and each model's default. */
export class ModelRegistry {
  private readonly models = new Map<string, ModelEntry>();
  private readonly waiters = new Map<string, Set<() => void>>();

  private entry(model: string): ModelEntry {
    let entry = this.models.get(model);
    if (!entry) {
      entry = { versions: new Map(), wanted: null, serving: null };
      this.models.set(model, entry);
    }
    return entry;
  }

  /** Records a version's state (START, LOADING, or END with an error when loading failed). */
  mark(model: string, version: number, state: VersionState, error?: string): void {
    const versions = this.entry(model).versions;
    const current = versions.get(version);
    versions.set(version, { ...current, state, ...(error === undefined ? {} : { error }) });
  }

  state(model: string, version: number): VersionState | undefined {
    return this.models.get(model)?.versions.get(version)?.state;
  }

  /** A loaded version becomes available; it is served as default at once if it is the wanted one. */
  available(model: string, served: ServedVersion): void {
    const entry = this.entry(model);
    entry.versions.set(served.version, { state: VersionState.Available, served });
    if (entry.wanted === served.version || entry.serving === null) this.refreshDefault(entry);
    this.wake(model);
  }

  setDefault(model: string, version: number | null): void {
    const entry = this.entry(model);
    entry.wanted = version;
    this.refreshDefault(entry);
    this.wake(model);
  }

  /**
   * Resolves once the model has a default to serve (at once if it has one); `abort` gives up
   * and resolves too (a stopping scorer).
   */
  whenServing(model: string, abort?: AbortSignal): Promise<void> {
    if (this.defaultVersion(model) !== null || abort?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      let waiters = this.waiters.get(model);
      if (!waiters) this.waiters.set(model, (waiters = new Set()));
      const done = (): void => {
        waiters.delete(done);
        abort?.removeEventListener('abort', done);
        resolve();
      };
      waiters.add(done);
      abort?.addEventListener('abort', done, { once: true });
    });
  }

  private wake(model: string): void {
    if (this.defaultVersion(model) === null) return;
    for (const done of [...(this.waiters.get(model) ?? [])]) done();
  }

  private refreshDefault(entry: ModelEntry): void {
    const available = (v: number | null): boolean =>
      v !== null && entry.versions.get(v)?.state === VersionState.Available;
    if (available(entry.wanted)) entry.serving = entry.wanted;
    else if (!available(entry.serving)) entry.serving = this.latestAvailable(entry);
  }

  private latestAvailable(entry: ModelEntry): number | null {
    let best: number | null = null;
    for (const [version, v] of entry.versions) {
      if (v.state === VersionState.Available && (best === null || version > best)) best = version;
    }
    return best;
  }

  /** Takes a version out of service; its model is freed once no request uses it. */
  retire(model: string, version: number): void {
    const entry = this.models.get(model);
    const v = entry?.versions.get(version);
    if (!entry || !v) return;
    v.state = VersionState.End;
    v.served?.retire();
    delete v.served;
    if (entry.serving === version) entry.serving = null;
    this.refreshDefault(entry);
  }

  /** The version to score with: the given one, or the default. Throws 404 / 503 precisely. */
  resolve(model: string, version?: number): ServedVersion {
    const entry = this.models.get(model);
    if (!entry || entry.versions.size === 0) throw new NotFoundError('model', model);
    const wanted = version ?? entry.serving;
    if (wanted === null) {
      throw new DlnError(ErrorCode.Unavailable, `model "${model}" has no version loaded yet`, {
        retryable: true,
      });
    }
    const v = entry.versions.get(wanted);
    if (!v) throw new DlnError(ErrorCode.NotFound, `model "${model}" has no version ${wanted}`);
    if (v.state !== VersionState.Available || !v.served) {
      const why = v.error ? `: ${v.error}` : '';
      throw new DlnError(
        ErrorCode.Unavailable,
        `version ${wanted} of model "${model}" is ${v.state.toLowerCase()}${why}`,
        {
          retryable: v.state !== VersionState.End,
        },
      );
    }
    return v.served;
  }

  /** The default served now, if any. */
  defaultVersion(model: string): number | null {
    return this.models.get(model)?.serving ?? null;
  }

  /** Every version of a model, newest first; throws 404 for an unknown model. */
  status(model: string): VersionStatus[] {
    const entry = this.models.get(model);
    if (!entry || entry.versions.size === 0) throw new NotFoundError('model', model);
    return [...entry.versions.entries()]
      .sort(([a], [b]) => b - a)
      .map(([version, v]) => ({
        version,
        state: v.state,
        isDefault: entry.serving === version,
        ...(v.error === undefined ? {} : { error: v.error }),
      }));
  }

  /** Available versions of a model, newest first. */
  availableVersions(model: string): number[] {
    const entry = this.models.get(model);
    if (!entry) return [];
    return [...entry.versions.entries()]
      .filter(([, v]) => v.state === VersionState.Available)
      .map(([version]) => version)
      .sort((a, b) => b - a);
  }

  /** Every version serving now, across models (for metrics). */
  servedVersions(): ServedVersion[] {
    const out: ServedVersion[] = [];
    for (const entry of this.models.values()) {
      for (const v of entry.versions.values()) if (v.served) out.push(v.served);
    }
    return out;
  }

  modelNames(): string[] {
    return [...this.models.keys()].sort();
  }
}
