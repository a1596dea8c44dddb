import { z } from 'zod';

/**
 * Carried by every control message and ps request. A role restarted alone bumps its attempt; a
 * whole job restarted bumps the generation. Receivers refuse anything older than what they know.
 */
export const fencingTokenSchema = z.object({
  jobId: z.string().regex(/^[a-z0-9_-]{1,64}$/),
  generation: z.number().int().nonnegative(),
  role: z.string().regex(/^(worker|ps)-[0-9]{1,4}$/, { message: 'must be worker-N or ps-N' }),
  attempt: z.number().int().nonnegative(),
});
export type FencingToken = z.infer<typeof fencingTokenSchema>;

/** How a receiver that knows `current` judges an incoming token for the same role. */
export function compareFencing(
  current: FencingToken,
  incoming: FencingToken,
): 'current' | 'stale' | 'newer' {
  if (incoming.generation !== current.generation) {
    return incoming.generation < current.generation ? 'stale' : 'newer';
  }
  if (incoming.attempt !== current.attempt)
    return incoming.attempt < current.attempt ? 'stale' : 'newer';
  return 'current';
}
