import { ModelVersion } from '@dln/contracts';

/** Which versions of a model to hold: the default, the pinned ones and the newest `keep`. */
export function versionsToKeep(versions: readonly ModelVersion[], keep: number): Set<number> {
  const newest = [...versions].sort((a, b) => b.version - a.version).slice(0, keep);
  const wanted = new Set(newest.map((v) => v.version));
  for (const v of versions) if (v.isDefault || v.pinned) wanted.add(v.version);
  return wanted;
}

/**
 * The order to load versions in, one at a time: the wanted default first (it is what requests
 * wait for), then newest first. Loads run their synchronous steps on the serving loop; run
 * together, their steps came back to back and the default was ready only when all were.
 */
export function loadOrder<T extends Pick<ModelVersion, 'version'>>(
  versions: readonly T[],
  wantedDefault: number | null,
): T[] {
  return [...versions].sort(
    (a, b) =>
      Number(b.version === wantedDefault) - Number(a.version === wantedDefault) ||
      b.version - a.version,
  );
}
