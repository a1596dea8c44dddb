import * as tf from '@tensorflow/tfjs';

/** A tfjs IOHandler that saves a model's artifacts to memory and loads them back from there. */
export class MemoryIOHandler implements tf.io.IOHandler {
  constructor(private artifacts?: tf.io.ModelArtifacts) {}

  async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
    this.artifacts = artifacts;
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
  }

  async load(): Promise<tf.io.ModelArtifacts> {
    if (!this.artifacts) throw new Error('nothing has been saved to this memory handler');
    return this.artifacts;
  }

  /** What the last save wrote. */
  get saved(): tf.io.ModelArtifacts {
    if (!this.artifacts) throw new Error('nothing has been saved to this memory handler');
    return this.artifacts;
  }
}
