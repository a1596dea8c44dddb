import * as tf from '@tensorflow/tfjs';

interface IdColumnArgs {
  column: number;
  name?: string;
}

/**
 * Takes one column of the int32 ids input ([batch, idCount] -> [batch, 1]) so that each id
 * column gets its own embedding. Registered for serialization, so saved models load again.
 */
export class IdColumn extends tf.layers.Layer {
  static readonly className = 'DlnIdColumn';
  readonly column: number;

  constructor(args: IdColumnArgs) {
    super(args.name ? { name: args.name, trainable: false } : { trainable: false });
    this.column = args.column;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [shape[0] ?? null, 1];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const ids = Array.isArray(inputs) ? inputs[0] : inputs;
    if (!ids) throw new Error('IdColumn needs the ids input');
    return tf.tidy(() => tf.slice(ids, [0, this.column], [-1, 1]));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), column: this.column };
  }

  override getClassName(): string {
    return IdColumn.className;
  }
}

tf.serialization.registerClass(IdColumn);
