import { z } from 'zod';

/** The key of the AM lease in `Subjects.bucket('lease')`. */
export const AM_LEASE_KEY = 'am';

/** Role of one AM process under the lease: only the ACTIVE one acts. */
export const LeaseState = { Active: 'ACTIVE', Standby: 'STANDBY' } as const;
export type LeaseState = (typeof LeaseState)[keyof typeof LeaseState];

/**
 * The value of the lease key, written by the holder at every renewal. Expiry is never read from
 * it (clocks differ between hosts): a standby times `leaseMs` from when it first saw a revision.
 */
export const leaseRecordSchema = z.object({
  holderId: z.string().min(1).max(256),
  /** Where the holder's REST API is reachable (AM_ADVERTISED_URL), when configured. */
  url: z.string().url().max(2048).optional(),
  leaseMs: z.number().int().min(100).max(600_000),
  /** Random per acquisition: lets a holder recognise its own write whose reply it missed. */
  term: z.string().min(1).max(64),
  /** Holder's wall clock at acquisition (ISO): informational only. */
  acquiredAt: z.string().datetime(),
});
export type LeaseRecord = z.infer<typeof leaseRecordSchema>;

/** The lease as one AM sees it: /health and the standby's 503 answers show it. */
export interface LeaseView {
  state: LeaseState;
  self: string;
  /** The holder last seen (self when ACTIVE); null when none is known. */
  holder: { id: string; url: string | null } | null;
  leaseMs: number;
}
