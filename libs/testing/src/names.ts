import { randomBytes } from 'node:crypto';

/** A subject root / schema name unique to one test file run: `t_<label>_<random>`. */
export function uniqueRoot(label: string): string {
  const clean = label
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 30);
  return `t_${clean}_${randomBytes(4).toString('hex')}`;
}

/** PostgreSQL of this machine (trust auth); TEST_DATABASE_URL overrides it. */
export const TEST_DATABASE_URL =
  process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** The shared NATS of this machine; TEST_NATS_URL overrides it. */
export const TEST_NATS_URL = process.env['TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';

/** Both databases every integration test runs against. */
export const TEST_DATABASES = [
  { kind: 'sqlite' as const, databaseUrl: undefined },
  { kind: 'postgres' as const, databaseUrl: TEST_DATABASE_URL },
];
