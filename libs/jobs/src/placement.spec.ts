import { describe, expect, it } from 'vitest';
import { NodeCapacity, placeRoles } from './placement';

const roles = (ps: number, workers: number) => [
  ...Array.from({ length: ps }, (_, i) => ({ role: `ps-${i}`, kind: 'ps' as const })),
  ...Array.from({ length: workers }, (_, i) => ({ role: `worker-${i}`, kind: 'worker' as const })),
];

describe('placeRoles', () => {
  it('puts ps roles on parameter-server nodes and workers on worker nodes', () => {
    const capacity: NodeCapacity[] = [
      { nodeId: 'w1', kind: 'worker', free: 4 },
      { nodeId: 'p1', kind: 'parameter-server', free: 2 },
    ];
    expect(placeRoles(roles(1, 2), capacity)).toEqual({
      placed: true,
      assignments: [
        { role: 'ps-0', nodeId: 'p1' },
        { role: 'worker-0', nodeId: 'w1' },
        { role: 'worker-1', nodeId: 'w1' },
      ],
    });
  });

  it('spreads roles over the nodes with the most free slots, deterministically', () => {
    const capacity: NodeCapacity[] = [
      { nodeId: 'w2', kind: 'worker', free: 2 },
      { nodeId: 'w1', kind: 'worker', free: 2 },
      { nodeId: 'w3', kind: 'worker', free: 3 },
      { nodeId: 'p1', kind: 'parameter-server', free: 1 },
      { nodeId: 'p2', kind: 'parameter-server', free: 1 },
    ];
    const result = placeRoles(roles(2, 4), capacity);
    expect(result).toEqual({
      placed: true,
      assignments: [
        { role: 'ps-0', nodeId: 'p1' },
        { role: 'ps-1', nodeId: 'p2' },
        { role: 'worker-0', nodeId: 'w3' },
        { role: 'worker-1', nodeId: 'w1' },
        { role: 'worker-2', nodeId: 'w2' },
        { role: 'worker-3', nodeId: 'w3' },
      ],
    });
    expect(placeRoles(roles(2, 4), [...capacity].reverse())).toEqual(result);
  });

  it('places nothing and says what is missing when slots are short', () => {
    const capacity: NodeCapacity[] = [{ nodeId: 'w1', kind: 'worker', free: 1 }];
    const result = placeRoles(roles(1, 2), capacity);
    expect(result).toEqual({
      placed: false,
      reason:
        '1 ps role(s) need 1 free parameter-server slot(s), 0 free on 0 alive node(s); 2 worker role(s) need 2 free worker slot(s), 1 free on 1 alive node(s)',
    });
  });

  it('refuses a nonsensical capacity', () => {
    expect(() =>
      placeRoles(roles(1, 1), [{ nodeId: 'w', kind: 'worker', free: Number.NaN }]),
    ).toThrow(/free slots/);
  });
});

describe('placeRoles for a replacement', () => {
  it("takes the predecessor's node when it has a free slot, the usual order otherwise", () => {
    const capacity: NodeCapacity[] = [
      { nodeId: 'w1', kind: 'worker', free: 3 },
      { nodeId: 'w2', kind: 'worker', free: 1 },
    ];
    const replacement = { role: 'worker-1', kind: 'worker' as const, preferNode: 'w2' };
    expect(placeRoles([replacement], capacity)).toEqual({
      placed: true,
      assignments: [{ role: 'worker-1', nodeId: 'w2' }],
    });
    expect(placeRoles([{ ...replacement, preferNode: 'w9' }], capacity)).toEqual({
      placed: true,
      assignments: [{ role: 'worker-1', nodeId: 'w1' }],
    });
    expect(
      placeRoles(
        [replacement],
        [...capacity.slice(0, 1), { nodeId: 'w2', kind: 'worker', free: 0 }],
      ),
    ).toEqual({ placed: true, assignments: [{ role: 'worker-1', nodeId: 'w1' }] });
  });
});
