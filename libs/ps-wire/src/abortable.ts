const STOPPED = Symbol('stopped');

/** Thrown by `untilAborted` when the signal aborts first. */
export class StoppedError extends Error {
  constructor() {
    super('stopped');
    this.name = 'StoppedError';
  }
}

/**
 * The promise's value, or a StoppedError as soon as the signal aborts: a role told to stop
 * leaves at once instead of after a request's timeout (its slot is wanted by its successor).
 * The promise itself runs on and its outcome is ignored.
 */
export async function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  promise.catch(() => undefined);
  let onAbort: () => void = () => undefined;
  const stopped = new Promise<typeof STOPPED>((resolve) => {
    onAbort = () => resolve(STOPPED);
    if (signal.aborted) resolve(STOPPED);
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const value = await Promise.race([promise, stopped]);
    if (value === STOPPED) throw new StoppedError();
    return value;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
