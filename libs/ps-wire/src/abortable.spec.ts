import { describe, expect, it } from 'vitest';
import { StoppedError, untilAborted } from './abortable';

describe('untilAborted', () => {
  it('gives the value when it comes first', async () => {
    expect(await untilAborted(Promise.resolve(3), new AbortController().signal)).toBe(3);
  });

  it('leaves at once when the signal aborts first, and ignores the late outcome', async () => {
    const stop = new AbortController();
    const late = new Promise<number>((_, reject) => setTimeout(() => reject(new Error('x')), 50));
    const waiting = untilAborted(late, stop.signal);
    stop.abort();
    await expect(waiting).rejects.toBeInstanceOf(StoppedError);
    await expect(untilAborted(Promise.resolve(1), stop.signal)).resolves.toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 80));
  });
});
