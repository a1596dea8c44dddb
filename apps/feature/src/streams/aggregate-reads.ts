import {
  KeyAggregateState,
  keyText,
  StreamAggregatesBatchReply,
  StreamAggregatesBatchRequest,
  StreamPipelineSpec,
  ValidationError,
} from '@dln/contracts';
import { aggregateAt, aggregateValue } from '@dln/features';

/** Reads the per-key state of one aggregate feature (undefined: the key was never seen). */
export type AggregateStateReader = (
  feature: string,
  key: string,
) => Promise<KeyAggregateState | undefined>;

/**
 * The serving read of many records: each (feature, key) state is read once for the whole batch,
 * then every item's aggregates are computed at its own time, exactly as a single read would.
 */
export async function readAggregatesBatch(
  spec: StreamPipelineSpec,
  request: StreamAggregatesBatchRequest,
  readState: AggregateStateReader,
): Promise<StreamAggregatesBatchReply> {
  const keysOf = request.items.map((item, index) =>
    spec.aggregates.map((aggregate) => {
      const key = item.record[aggregate.key];
      if (key === undefined || key === null || key === '') {
        const path = `items[${index}].record.${aggregate.key}`;
        throw new ValidationError(`${path}: missing (key of ${aggregate.name})`, [
          { path, message: 'missing' },
        ]);
      }
      return keyText(key);
    }),
  );
  const states = new Map<string, Promise<KeyAggregateState | undefined>>();
  const stateOf = (feature: string, key: string): Promise<KeyAggregateState | undefined> => {
    const id = `${feature}\u0000${key}`;
    let found = states.get(id);
    if (!found) {
      found = readState(feature, key);
      states.set(id, found);
    }
    return found;
  };
  const items = await Promise.all(
    request.items.map(async (item, index) => {
      let exact = true;
      const values = await Promise.all(
        spec.aggregates.map(async (aggregate, a) => {
          const state = await stateOf(aggregate.name, keysOf[index]?.[a] as string);
          const totals = state
            ? aggregateAt(state, aggregate.window, item.at)
            : { count: 0, sum: 0, exact: true };
          exact &&= totals.exact;
          return aggregateValue(aggregate, totals);
        }),
      );
      return { values, exact };
    }),
  );
  return {
    pipeline: request.pipeline,
    eventTime: spec.eventTime,
    aggregates: spec.aggregates.map((a) => a.name),
    items,
  };
}
