import { describe, expect, it } from 'vitest';
import {
  NODE_LIMITS,
  nodeCommandSchema,
  nodeHeartbeatSchema,
  nodeRegistrationSchema,
  roleExitReportSchema,
} from './nodes';
import { parseInput } from './validation';

const token = { jobId: 'job-1', generation: 0, role: 'worker-0', attempt: 2 };
const now = '2026-01-01T00:00:00.000Z';
const registration = {
  nodeId: 'worker-a',
  incarnation: 'i1',
  kind: 'worker',
  slots: 2,
  version: '0.1.0',
  host: 'host-1',
  httpPort: 0,
  startedAt: now,
};

describe('node contracts', () => {
  it('accepts a registration and defaults its running roles to none', () => {
    expect(nodeRegistrationSchema.parse(registration).runningRoles).toEqual([]);
  });

  it('names each bad registration field', () => {
    const bad = { ...registration, nodeId: 'Worker.A', slots: 0, httpPort: 70000, kind: 'gpu' };
    expect(() => parseInput(nodeRegistrationSchema, bad, 'registration')).toThrow(/nodeId/);
    const issues = nodeRegistrationSchema.safeParse(bad).error?.issues.map((i) => i.path.join('.'));
    expect(issues).toEqual(expect.arrayContaining(['nodeId', 'slots', 'httpPort', 'kind']));
  });

  it('refuses a NaN or fractional heartbeat sequence and a bad role token', () => {
    const heartbeat = {
      nodeId: 'worker-a',
      incarnation: 'i1',
      seq: 3,
      sentAt: now,
      runningRoles: [],
    };
    expect(nodeHeartbeatSchema.safeParse(heartbeat).success).toBe(true);
    expect(nodeHeartbeatSchema.safeParse({ ...heartbeat, seq: Number.NaN }).success).toBe(false);
    expect(nodeHeartbeatSchema.safeParse({ ...heartbeat, seq: 1.5 }).success).toBe(false);
    const role = {
      token: { ...token, role: 'chief' },
      entry: 'worker',
      pid: 12,
      state: 'running',
      startedAt: now,
    };
    expect(nodeHeartbeatSchema.safeParse({ ...heartbeat, runningRoles: [role] }).success).toBe(
      false,
    );
  });

  it('parses assign and stop commands by type and bounds the role config', () => {
    const assign = nodeCommandSchema.parse({
      type: 'assign',
      token,
      entry: 'worker',
      config: { a: 1 },
    });
    expect(assign.type).toBe('assign');
    const stop = nodeCommandSchema.parse({ type: 'stop', token, reason: 'cancelled' });
    expect(stop.type).toBe('stop');
    const huge = { blob: 'x'.repeat(NODE_LIMITS.maxRoleConfigBytes) };
    expect(
      nodeCommandSchema.safeParse({ type: 'assign', token, entry: 'worker', config: huge }).success,
    ).toBe(false);
    expect(nodeCommandSchema.safeParse({ type: 'restart', token }).success).toBe(false);
  });

  it('accepts an exit report with a signal and no code', () => {
    const exit = {
      token,
      entry: 'worker',
      pid: 99,
      code: null,
      signal: 'SIGKILL',
      reason: 'crashed',
      message: null,
      startedAt: now,
      exitedAt: now,
    };
    expect(
      roleExitReportSchema.safeParse({ nodeId: 'worker-a', incarnation: 'i1', exit }).success,
    ).toBe(true);
  });
});
