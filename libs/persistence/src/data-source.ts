import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { DataSource, DataSourceOptions, EntitySchema, MixedList } from 'typeorm';

/** Where a service keeps its tables: its own SQLite file, or its own PostgreSQL schema. */
export interface DatabaseOptions {
  /** Owning service; names the SQLite file and the default PostgreSQL schema. */
  service: string;
  /** PostgreSQL when set (postgres://...), else embedded SQLite. */
  databaseUrl?: string | undefined;
  /** Folder of the SQLite files. */
  dataDir: string;
  /** Overrides the schema (PostgreSQL) or file name (SQLite); tests use their own. */
  schema?: string | undefined;
  // TypeORM's own option types.
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  entities: MixedList<Function | string | EntitySchema>;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations: MixedList<Function | string>;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

export function schemaName(options: Pick<DatabaseOptions, 'service' | 'schema'>): string {
  const name = options.schema ?? options.service.replace(/-/g, '_');
  if (!IDENTIFIER.test(name))
    throw new Error(`database schema "${name}" is not a lowercase SQL identifier`);
  return name;
}

export function dataSourceOptions(options: DatabaseOptions): DataSourceOptions {
  const schema = schemaName(options);
  const common = {
    entities: options.entities,
    migrations: options.migrations,
    migrationsRun: false,
    synchronize: false,
    logging: false,
  } as const;
  if (options.databaseUrl) {
    return {
      ...common,
      type: 'postgres',
      url: options.databaseUrl,
      schema,
      // Unqualified names in migrations and queries resolve to the service's own schema.
      extra: { options: `-c search_path=${schema}`, max: 10 },
    };
  }
  const dir = resolve(options.dataDir);
  mkdirSync(dir, { recursive: true });
  return {
    ...common,
    type: 'better-sqlite3',
    database: join(dir, `${schema}.sqlite`),
    enableWAL: true,
  };
}

async function withPostgres<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Opens the service's database: creates its schema if needed and runs pending migrations. */
export async function openDatabase(options: DatabaseOptions): Promise<DataSource> {
  if (options.databaseUrl) {
    const schema = schemaName(options);
    await withPostgres(options.databaseUrl, (client) =>
      client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`),
    );
  }
  const dataSource = new DataSource(dataSourceOptions(options));
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'each' });
  return dataSource;
}

/** Drops a PostgreSQL schema with everything in it (tests clean up their own schema). */
export async function dropPostgresSchema(databaseUrl: string, schema: string): Promise<void> {
  if (!IDENTIFIER.test(schema)) throw new Error(`refusing to drop "${schema}"`);
  await withPostgres(databaseUrl, (client) =>
    client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`),
  );
}
