import { describe, expect, it } from 'vitest';
import { GateWaiters } from './gate-waiters';

describe('GateWaiters', () => {
  it('answers the waiters of an epoch, and of later epochs when the verdict is to stop', async () => {
    const gates = new GateWaiters();
    const first = gates.wait('job', 0);
    const later = gates.wait('job', 1);
    const other = gates.wait('other', 0);
    gates.settle('job', 0, { proceed: true, reason: null });
    expect(await first).toEqual({ proceed: true, reason: null });
    expect(gates.count('job')).toBe(1);
    gates.settle('job', 0, { proceed: false, reason: 'early stopping' });
    expect(await later).toEqual({ proceed: false, reason: 'early stopping' });
    expect(gates.count('job')).toBe(0);
    gates.release('other', 'job CANCELLED: cancelled by request');
    expect(await other).toEqual({ proceed: false, reason: 'job CANCELLED: cancelled by request' });
  });
});
