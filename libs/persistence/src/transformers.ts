import type { ValueTransformer } from 'typeorm';

/**
 * PostgreSQL returns bigint columns as strings; epoch milliseconds and counters fit a double
 * exactly, so they are read back as numbers on both databases.
 */
export const bigintAsNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null) =>
    value === null || value === undefined ? value : Number(value),
};

/** JSON kept in a text column, the same on SQLite and PostgreSQL. */
export const jsonText: ValueTransformer = {
  to: (value: unknown) => (value === undefined ? null : JSON.stringify(value)),
  from: (value: string | null) => (value === null ? null : (JSON.parse(value) as unknown)),
};
