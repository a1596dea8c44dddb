import { z } from 'zod';
import { resourceName } from './names';
import { fieldRef } from './pipelines';
import { streamAggregatesRequestSchema } from './streaming';

/** Most records one `ControlPattern.streamAggregatesBatch` request may carry. */
export const STREAM_AGGREGATES_BATCH_MAX = 1_024;

/**
 * Request of ControlPattern.streamAggregatesBatch (serving, many records at once): the
 * aggregates of each item's record at its time `at`, as `streamAggregates` answers for one.
 * An empty `items` list is a cheap probe: the reply still names the pipeline's event-time field
 * and aggregates (a model load asks so).
 */
export const streamAggregatesBatchRequestSchema = z.object({
  pipeline: resourceName,
  items: z
    .array(streamAggregatesRequestSchema.pick({ at: true, record: true }))
    .max(STREAM_AGGREGATES_BATCH_MAX),
});
export type StreamAggregatesBatchRequest = z.infer<typeof streamAggregatesBatchRequestSchema>;

/**
 * Reply: `aggregates` names the pipeline's aggregate features in spec order; per item (in
 * request order) `values[i]` is the value of `aggregates[i]` before its transform, and `exact`
 * as in StreamAggregatesReply.
 */
export const streamAggregatesBatchReplySchema = z.object({
  pipeline: resourceName,
  eventTime: fieldRef,
  aggregates: z.array(z.string()),
  items: z.array(z.object({ values: z.array(z.number()), exact: z.boolean() })),
});
export type StreamAggregatesBatchReply = z.infer<typeof streamAggregatesBatchReplySchema>;
