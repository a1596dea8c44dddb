import { describe, expect, it } from 'vitest';
import { roleNodeArgs } from './role-gc';

const auto = { mode: 'auto', semiSpaceMb: 0 } as const;

describe('roleNodeArgs', () => {
  it('keeps GC on the role thread when the roles can fill the cores', () => {
    expect(roleNodeArgs(auto, 3, 2)).toEqual(['--single-threaded-gc']);
    expect(roleNodeArgs(auto, 2, 2)).toEqual(['--single-threaded-gc']);
  });

  it("leaves V8's parallel GC when cores are spare", () => {
    expect(roleNodeArgs(auto, 1, 2)).toEqual([]);
    expect(roleNodeArgs(auto, 4, 16)).toEqual([]);
  });

  it('follows an explicit mode whatever the counts', () => {
    expect(roleNodeArgs({ mode: 'single-threaded', semiSpaceMb: 0 }, 1, 64)).toEqual([
      '--single-threaded-gc',
    ]);
    expect(roleNodeArgs({ mode: 'parallel', semiSpaceMb: 0 }, 8, 2)).toEqual([]);
  });

  it('caps the young generation unless told to leave it', () => {
    expect(roleNodeArgs({ mode: 'auto', semiSpaceMb: 4 }, 3, 2)).toEqual([
      '--single-threaded-gc',
      '--max-semi-space-size=4',
    ]);
    expect(roleNodeArgs({ mode: 'parallel', semiSpaceMb: 8 }, 1, 2)).toEqual([
      '--max-semi-space-size=8',
    ]);
  });
});
