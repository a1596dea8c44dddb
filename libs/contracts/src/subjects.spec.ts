import { describe, expect, it } from 'vitest';
import { ControlPattern, Subjects } from './subjects';

// NATS: tokens are separated by '.', must be non-empty, and may not contain whitespace, '*' or
// '>' (except as a whole wildcard token). Stream and bucket names may not contain '.', '*', '>',
// whitespace or path separators.
const LITERAL_TOKEN = /^[^\s.*>]+$/;
function assertSubject(subject: string, allowWildcards: boolean): void {
  const tokens = subject.split('.');
  tokens.forEach((tok, index) => {
    if (allowWildcards && (tok === '*' || (tok === '>' && index === tokens.length - 1))) return;
    expect(tok, `${subject} token ${index}`).toMatch(LITERAL_TOKEN);
  });
}
function assertStreamName(name: string): void {
  expect(name).toMatch(/^[A-Za-z0-9_-]+$/);
}

describe('Subjects', () => {
  const names = ['a', 'flights', 'my_model-2', 'x'.repeat(64)];
  const s = new Subjects('dln_t1');

  it('builds subjects that obey the NATS token rules for every valid name', () => {
    for (const name of names) {
      assertSubject(s.ingest(name), false);
      assertSubject(s.deadLetter(name), false);
      assertSubject(s.raw(name, 3), false);
      assertSubject(s.rawAll(name), true);
      assertSubject(s.examples(name, 2, 'train'), false);
      assertSubject(s.examplesAll(name, 2), true);
      assertSubject(s.examplesEveryVersion(name), true);
      assertSubject(s.nodeCommands(name), false);
      assertSubject(s.jobEvents(name), false);
      assertSubject(s.jobControl(name), false);
      assertSubject(s.psPull(name, 0), false);
      assertSubject(s.psPush(name, 1), false);
      assertSubject(s.predictions(name), false);
      assertStreamName(s.rawStream(name));
      assertStreamName(s.examplesStream(name));
      assertStreamName(s.predictionsStream(name));
      assertSubject(s.streamExamples(name), false);
      assertStreamName(s.streamExamplesStream(name));
    }
    for (const pattern of Object.values(ControlPattern)) assertSubject(s.control(pattern), true);
    assertSubject(s.modelAnnouncements(), false);
    assertSubject(s.jobEventsAll(), true);
    for (const purpose of [
      'nodes',
      'features',
      'lease',
      'checkpoints',
      'models',
      'scorers',
    ] as const) {
      assertStreamName(s.bucket(purpose));
    }
  });

  it('places every subject under the configured root', () => {
    expect(s.ingest('flights')).toBe('dln_t1.ingest.records.flights');
    expect(s.raw('flights', 0)).toBe('dln_t1.raw.flights.0');
    expect(s.jobControl('j1')).toBe('dln_t1.jobs.j1.control');
    expect(s.rawStream('flights')).toBe('DLN_T1_RAW_flights');
    expect(s.streamExamples('clicks')).toBe('dln_t1.stream-examples.clicks');
    expect(s.streamExamplesStream('clicks')).toBe('DLN_T1_SEX_clicks');
    expect(new Subjects().control(ControlPattern.nodeRegister)).toBe('dln.am.nodes.register');
  });

  it('refuses names that would break a subject, a stream name or a URL', () => {
    for (const bad of ['', 'Flights', 'a.b', 'a b', 'a*', 'a>', 'x'.repeat(65), 'é', 'a/b']) {
      expect(() => s.ingest(bad), bad).toThrow(/not a valid name/);
    }
    expect(() => new Subjects('a.b')).toThrow(/subject root/);
    expect(() => s.raw('flights', -1)).toThrow(/non-negative integer/);
    expect(() => s.raw('flights', 1.5)).toThrow(/non-negative integer/);
  });
});
