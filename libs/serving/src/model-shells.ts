import * as tf from '@tensorflow/tfjs';

/** Default bound on the models kept: each holds its variables (a retired version's weights). */
const DEFAULT_MAX_SHELLS = 4;

/**
 * Layers models of unloaded versions kept by their exact topology, so that a later version of
 * the same architecture (a streaming job's next export) only gets its weights set: building the
 * layers from the topology is the largest synchronous step of a swap on the serving loop.
 *
 * A model is given back only by its owner once nothing can score with it any more (a disposed
 * LoadedModel refuses to run), so a shell's old weights are never read again.
 */
export class ModelShells {
  private readonly byTopology = new Map<string, tf.LayersModel[]>();
  private readonly topologyOf = new WeakMap<tf.LayersModel, string>();
  private kept = 0;

  constructor(private readonly max = DEFAULT_MAX_SHELLS) {}

  /** A kept model built from exactly this topology, now owned by the caller. */
  take(topologyKey: string): tf.LayersModel | undefined {
    const list = this.byTopology.get(topologyKey);
    const model = list?.pop();
    if (!model) return undefined;
    if (list?.length === 0) this.byTopology.delete(topologyKey);
    this.kept -= 1;
    return model;
  }

  /** Marks a model as built from this topology, so that `recycle` can keep it. */
  remember(model: tf.LayersModel, topologyKey: string): void {
    this.topologyOf.set(model, topologyKey);
  }

  /** Keeps a model its owner is done with, or disposes it (unknown topology, or full). */
  recycle(model: tf.LayersModel): void {
    const key = this.topologyOf.get(model);
    if (key === undefined || this.kept >= this.max) {
      model.dispose();
      return;
    }
    const list = this.byTopology.get(key) ?? [];
    list.push(model);
    this.byTopology.set(key, list);
    this.kept += 1;
  }

  get size(): number {
    return this.kept;
  }

  /** Disposes every kept model. */
  clear(): void {
    for (const list of this.byTopology.values()) list.forEach((model) => model.dispose());
    this.byTopology.clear();
    this.kept = 0;
  }
}

/** The process's shells: model loads take from it and LoadedModel.dispose gives back to it. */
export const modelShells = new ModelShells();
