import type { SourceDescription } from '@dln/contracts';
import { flightsSourceDeclaration } from '@dln/features';
import type { Flight } from '@dln/testing';
import { callJson } from './http';
import { Progress } from './progress';

interface IngestAnswer {
  accepted: number;
  duplicates?: number;
  rejectedCount?: number;
}

/** Declares the flights source and sends every flight over REST, ids from their row numbers. */
export async function ingestFlights(
  ingestUrl: string,
  source: string,
  flights: Flight[],
  batch = 2_000,
): Promise<number> {
  await callJson('POST', `${ingestUrl}/v1/sources`, flightsSourceDeclaration(source));
  const progress = new Progress('ingest  ', flights.length);
  let sent = 0;
  let rejected = 0;
  for (let offset = 0; offset < flights.length; offset += batch) {
    const slice = flights.slice(offset, offset + batch);
    const answer = await callJson<IngestAnswer>(
      'POST',
      `${ingestUrl}/v1/sources/${source}/records?idFrom=row&idOffset=${offset}`,
      slice,
    );
    rejected += answer.rejectedCount ?? 0;
    sent += slice.length;
    progress.update(sent, rejected > 0 ? `${rejected} rejected` : '');
  }
  const description = await callJson<SourceDescription>('GET', `${ingestUrl}/v1/sources/${source}`);
  return description.stored.records;
}
