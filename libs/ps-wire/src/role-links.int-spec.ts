import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPattern, RoleReport, Subjects } from '@dln/contracts';
import { connectNats, decodeJson, encodeJson, NatsConnection } from '@dln/messaging';
import { TEST_NATS_URL, uniqueRoot, waitFor } from '@dln/testing';
import { ReportOutbox } from './report-outbox';
import { NatsEpochGate } from './role-links';

const root = uniqueRoot('role_links');
const subjects = new Subjects(root);
const token = { jobId: 'linksjob', generation: 0, role: 'worker-0', attempt: 0 };
const progress = (step: number): RoleReport => ({
  type: 'progress',
  token,
  epoch: 0,
  step,
  loss: 0.5,
  examples: step * 10,
  examplesPerSecond: 1,
});

describe('role links while the AM is away (real NATS)', () => {
  let nc: NatsConnection;

  beforeAll(async () => {
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'role-links-test' });
  });

  afterAll(async () => {
    await nc.drain();
  });

  it('keeps reports until an AM answers them, in order, progress collapsed into the latest', async () => {
    const outbox = new ReportOutbox(nc, subjects, token.jobId, {
      attemptTimeoutMs: 500,
      maxRetryDelayMs: 100,
    });
    outbox.send({ type: 'started', token });
    for (let step = 1; step <= 5; step += 1) outbox.send(progress(step));
    outbox.send({ type: 'evaluation', token, epoch: 0, metrics: { loss: 0.4, examples: 10 } });
    outbox.send(progress(6));
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(outbox.pending).toBeGreaterThan(0);
    expect(await outbox.flush(100)).toBe(false);

    // The AM comes back: it answers each report once handled.
    const received: RoleReport[] = [];
    const am = nc.subscribe(subjects.jobReports(token.jobId), {
      callback: (_error, msg) => {
        received.push(decodeJson(msg.data) as RoleReport);
        msg.respond(encodeJson(null));
      },
    });
    expect(await outbox.flush(10_000)).toBe(true);
    am.unsubscribe();
    const kinds = received.map((r) => (r.type === 'progress' ? `progress ${r.step}` : r.type));
    // In order, each once (an answered report is never sent again); unsent progress reports
    // collapsed into the latest.
    expect(kinds).toEqual(['started', 'evaluation', 'progress 6']);
    outbox.close();
  });

  it('asks the epoch gate again until an AM answers', async () => {
    const gate = new NatsEpochGate(nc, subjects, token, {
      attemptTimeoutMs: 300,
      retryDelayMs: 100,
    });
    const passed = gate.pass(0);
    let asked = 0;
    await new Promise((resolve) => setTimeout(resolve, 800));
    const am = nc.subscribe(subjects.control(ControlPattern.epochGate), {
      callback: (_error, msg) => {
        asked += 1;
        msg.respond(encodeJson({ proceed: true, reason: null }));
      },
    });
    expect(await passed).toBe(true);
    await waitFor('the gate was asked', () => asked > 0);
    am.unsubscribe();
  });
});
