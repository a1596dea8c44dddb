/**
 * A job id: the job's name (shortened) and a random suffix, so ids are readable, unique and
 * valid as subject tokens and fencing job ids ([a-z0-9_-]{1,64}).
 */
export function newJobId(name: string, randomHex: string): string {
  if (!/^[0-9a-f]{8,16}$/.test(randomHex))
    throw new Error('the random suffix must be 8-16 hex digits');
  const base = name
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '-')
    .slice(0, 64 - randomHex.length - 1);
  return `${base}-${randomHex}`;
}
