import { describe, expect, it } from 'vitest';
import { PublishWindow } from './publish-window';

describe('PublishWindow', () => {
  it('bounds the slots and hands freed ones to waiters in order', () => {
    const window = new PublishWindow(2);
    expect([window.tryAcquire(), window.tryAcquire(), window.tryAcquire()]).toEqual([
      true,
      true,
      false,
    ]);
    const woken: string[] = [];
    window.wait(() => {
      woken.push('a');
      window.tryAcquire();
    });
    window.wait(() => {
      woken.push('b');
      window.tryAcquire();
    });
    window.release();
    expect(woken).toEqual(['a']);
    expect(window.used).toBe(2);
    window.release();
    expect(woken).toEqual(['a', 'b']);
    expect(window.used).toBe(2);
  });

  it('passes a slot on when a woken waiter does not take it', () => {
    const window = new PublishWindow(1);
    window.tryAcquire();
    const woken: string[] = [];
    window.wait(() => woken.push('done-already'));
    window.wait(() => {
      woken.push('takes');
      window.tryAcquire();
    });
    window.wait(() => woken.push('still-waiting'));
    window.release();
    expect(woken).toEqual(['done-already', 'takes']);
    expect(window.used).toBe(1);
  });
});
