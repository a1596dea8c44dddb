import { Agent, request } from 'node:http';

/** One answered request: client latency (ms) and the server's own time from its header. */
export interface Sample {
  /** When the request was sent, ms on the performance clock. */
  sentAt: number;
  clientMs: number;
  serverMs: number;
}

const SERVER_TIME_HEADER = 'x-server-time-ms';

/** A keep-alive HTTP client for loopback load (plain node:http; no extra packages). */
export class LoadClient {
  private readonly agent: Agent;

  constructor(
    private readonly port: number,
    connections: number,
  ) {
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: connections,
      maxFreeSockets: connections,
    });
  }

  post(path: string, body: Buffer): Promise<Sample> {
    const started = process.hrtime.bigint();
    const sentAt = performance.now();
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: this.port,
          path,
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': body.byteLength },
        },
        (res) => {
          res.on('data', () => undefined);
          res.on('end', () => {
            if (res.statusCode !== 200) {
              reject(new Error(`${path}: HTTP ${res.statusCode}`));
              return;
            }
            resolve({
              sentAt,
              clientMs: Number(process.hrtime.bigint() - started) / 1e6,
              serverMs: Number(res.headers[SERVER_TIME_HEADER] ?? NaN),
            });
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Closed loop: `lanes` requests always outstanding for `seconds` (and at most `maxRequests`). */
export async function closedLoop(
  send: () => Promise<Sample>,
  lanes: number,
  seconds: number,
  maxRequests: number,
): Promise<{ count: number; seconds: number }> {
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(Math.round(seconds * 1e9));
  let count = 0;
  const lane = async (): Promise<void> => {
    while (count < maxRequests && process.hrtime.bigint() < deadline) {
      await send();
      count += 1;
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return { count, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** Open loop: requests started at a fixed rate whatever the answers do, for `seconds`. */
export async function openLoop(
  send: () => Promise<Sample>,
  perSecond: number,
  seconds: number,
): Promise<Sample[]> {
  const total = Math.round(perSecond * seconds);
  const started = performance.now();
  const pending: Promise<Sample>[] = [];
  await new Promise<void>((done) => {
    const tick = (): void => {
      const due = Math.min(
        total,
        Math.floor(((performance.now() - started) * perSecond) / 1000) + 1,
      );
      while (pending.length < due) pending.push(send());
      if (pending.length >= total) done();
      else setTimeout(tick, 1);
    };
    tick();
  });
  return Promise.all(pending);
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return (
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ??
    NaN
  );
}
