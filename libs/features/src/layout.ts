import {
  EXAMPLE_FORMAT_VERSION,
  FeatureSpec,
  FeatureState,
  OutputSchema,
  PIPELINE_LIMITS,
  PipelineSnapshot,
  ValidationError,
} from '@dln/contracts';
import { PART_CARDINALITY } from './datetime';

/** How one feature lands in an example: `width` dense slots, or one id column of `cardinality`. */
export type FeatureSlot = { kind: 'dense'; width: number } | { kind: 'id'; cardinality: number };

/** The slot of a fitted feature (learned vocabularies add one out-of-vocabulary id, 0). */
export function slotOf(feature: FeatureSpec, state: FeatureState): FeatureSlot {
  let cardinality: number;
  switch (feature.kind) {
    case 'numeric':
      return { kind: 'dense', width: 1 };
    case 'cross':
      return { kind: 'id', cardinality: feature.buckets };
    case 'bucketize':
      cardinality = feature.boundaries.length + 1;
      break;
    case 'categorical':
      cardinality =
        feature.vocabulary.kind === 'hash'
          ? feature.vocabulary.buckets
          : (state.vocabulary?.length ?? 0) + 1;
      break;
    case 'datetime':
      cardinality = PART_CARDINALITY[feature.part];
      break;
  }
  return feature.encoding === 'onehot'
    ? { kind: 'dense', width: cardinality }
    : { kind: 'id', cardinality };
}

/**
 * The output schema of a fitted pipeline: dense features in spec order with consecutive
 * offsets, then the id columns in spec order, then the label.
 */
export function outputSchemaOf(snapshot: PipelineSnapshot): OutputSchema {
  const dense: OutputSchema['dense'] = [];
  const ids: OutputSchema['ids'] = [];
  let offset = 0;
  snapshot.spec.features.forEach((feature, index) => {
    const state = snapshot.features[index];
    if (!state || state.name !== feature.name)
      throw new Error(`snapshot has no state for feature "${feature.name}"`);
    const slot = slotOf(feature, state);
    if (slot.kind === 'dense') {
      dense.push({ name: feature.name, offset, width: slot.width });
      offset += slot.width;
    } else {
      ids.push({ name: feature.name, cardinality: slot.cardinality });
    }
  });
  if (offset > PIPELINE_LIMITS.denseWidth) {
    throw new ValidationError(
      `the dense slice would be ${offset} wide (at most ${PIPELINE_LIMITS.denseWidth}): encode large categoricals as ids`,
    );
  }
  const spec = snapshot.spec.label;
  const label: OutputSchema['label'] =
    spec.kind === 'class'
      ? { kind: 'class', classes: snapshot.label.classes ?? [] }
      : { kind: spec.kind };
  return { formatVersion: EXAMPLE_FORMAT_VERSION, dense, denseWidth: offset, ids, label };
}
