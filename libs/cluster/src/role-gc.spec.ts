import { describe, expect, it } from 'vitest';
import { roleNodeArgs } from './role-gc';

describe('roleNodeArgs', () => {
  it('keeps GC on the role thread when the roles can fill the cores', () => {
    expect(roleNodeArgs('auto', 3, 2)).toEqual(['--single-threaded-gc']);
    expect(roleNodeArgs('auto', 2, 2)).toEqual(['--single-threaded-gc']);
  });

  it("leaves V8's parallel GC when cores are spare", () => {
    expect(roleNodeArgs('auto', 1, 2)).toEqual([]);
    expect(roleNodeArgs('auto', 4, 16)).toEqual([]);
  });

  it('follows an explicit mode whatever the counts', () => {
    expect(roleNodeArgs('single-threaded', 1, 64)).toEqual(['--single-threaded-gc']);
    expect(roleNodeArgs('parallel', 8, 2)).toEqual([]);
  });
});
