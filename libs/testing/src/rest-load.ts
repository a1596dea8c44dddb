/**
 * A steady REST load: `clients` loops, each posting one of `bodies` (in turn) to `url` and
 * waiting `pauseMs` between its requests, until `stop()`. Every answer other than 2xx, and every
 * network error, is a failure (the first ones are kept with their reason).
 */
export class RestLoad {
  requests = 0;
  failures = 0;
  readonly firstFailures: string[] = [];
  private stopped = false;
  private readonly loops: Promise<void>[];

  constructor(
    readonly url: string,
    bodies: readonly unknown[],
    clients: number,
    pauseMs: number,
    check: (body: unknown) => string | undefined = () => undefined,
  ) {
    if (bodies.length === 0) throw new Error('RestLoad needs at least one body');
    this.loops = Array.from({ length: clients }, async (_, client) => {
      for (let i = client; !this.stopped; i += clients) {
        await this.once(bodies[i % bodies.length], check);
        if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    });
  }

  /** Stops the loops and waits for their last requests. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  private async once(body: unknown, check: (body: unknown) => string | undefined): Promise<void> {
    this.requests += 1;
    let failure: string | undefined;
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });
      const text = await res.text();
      if (res.status >= 300) failure = `${res.status} ${text.slice(0, 300)}`;
      else failure = check(JSON.parse(text) as unknown);
    } catch (err) {
      failure = String(err);
    }
    if (failure === undefined) return;
    this.failures += 1;
    if (this.firstFailures.length < 10) this.firstFailures.push(failure);
  }
}
