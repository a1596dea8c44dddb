import { splitOf } from '@dln/features';
import type { Flight } from '@dln/testing';
import { callJson } from './http';

interface ModelStatus {
  model_version_status: { version: string; state: string }[];
}

/** Waits until the prediction service serves `version` of `model`. */
export async function waitForModel(
  predictionUrl: string,
  model: string,
  version: number,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await callJson<ModelStatus>('GET', `${predictionUrl}/v1/models/${model}`).catch(
      () => undefined,
    );
    if (
      status?.model_version_status.some(
        (s) => s.version === String(version) && s.state === 'AVAILABLE',
      )
    )
      return;
    await new Promise((done) => setTimeout(done, 250));
  }
  throw new Error(`prediction did not serve ${model} v${version} within ${timeoutMs / 1000} s`);
}

/** Flights of the validation split (the ids are their row numbers): never trained on. */
export function heldOutFlights(
  flights: Flight[],
  validationFraction: number,
  seed: string | undefined,
  count: number,
): Flight[] {
  const picked: Flight[] = [];
  for (let row = 0; row < flights.length && picked.length < count; row += 211) {
    if (splitOf(String(row), validationFraction, seed) === 'validation') picked.push(flights[row]!);
  }
  return picked;
}

/** Scores flights through TensorFlow Serving's REST API; returns P(delay > 15 min) for each. */
export async function scoreFlights(
  predictionUrl: string,
  model: string,
  flights: Flight[],
): Promise<number[]> {
  const instances = flights.map(({ date, distance, origin, destination }) => ({
    date,
    distance,
    origin,
    destination,
  }));
  const answer = await callJson<{ predictions: number[] | number[][] }>(
    'POST',
    `${predictionUrl}/v1/models/${model}:predict`,
    { instances },
  );
  return answer.predictions.map((p) => (Array.isArray(p) ? p[0]! : p));
}
