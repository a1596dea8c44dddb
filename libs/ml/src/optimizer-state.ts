import { OptimizerSettings } from '@dln/contracts';
import { OptimizerState, optimizerSlots } from './optimizers';
import { decodeTensorMessage, encodeTensorMessage, TensorCodecError } from './tensor-codec';

const KINDS: readonly OptimizerSettings['kind'][] = ['sgd', 'momentum', 'adam'];

/** Optimizer state as one binary blob (for a checkpoint): a header and the slots back to back. */
export function encodeOptimizerState(state: OptimizerState): Uint8Array {
  const slots = optimizerSlots(state.kind);
  const size = slots.length > 0 ? (state.slots[slots[0] as string]?.length ?? 0) : 0;
  const values = new Float32Array(size * slots.length);
  slots.forEach((name, index) => {
    const slot = state.slots[name];
    if (!slot || slot.length !== size)
      throw new Error(`optimizer slot ${name} is missing or has the wrong length`);
    values.set(slot, index * size);
  });
  return encodeTensorMessage({ kind: state.kind, step: state.step, slots, size }, values);
}

export function decodeOptimizerState(bytes: Uint8Array): OptimizerState {
  const { header, values } = decodeTensorMessage(bytes);
  const kind = header['kind'] as OptimizerSettings['kind'];
  const { step, size } = header;
  if (!KINDS.includes(kind)) throw new TensorCodecError(`unknown optimizer kind ${String(kind)}`);
  if (
    !Number.isInteger(step) ||
    (step as number) < 0 ||
    !Number.isInteger(size) ||
    (size as number) < 0
  ) {
    throw new TensorCodecError('optimizer state header has a bad step or size');
  }
  const slots = optimizerSlots(kind);
  if (values.length !== (size as number) * slots.length)
    throw new TensorCodecError(
      `optimizer state has ${values.length} values, expected ${(size as number) * slots.length}`,
    );
  return {
    kind,
    step: step as number,
    slots: Object.fromEntries(
      slots.map((name, index) => [
        name,
        values.slice(index * (size as number), (index + 1) * (size as number)),
      ]),
    ),
  };
}
