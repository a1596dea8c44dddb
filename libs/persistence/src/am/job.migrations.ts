import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';

/**
 * Creates the am's job tables (jobs, job_roles, job_events, job_checkpoints, model_versions);
 * portable to SQLite and PostgreSQL. Runs after the node tables.
 */
export class AmJobs1764100000000 implements MigrationInterface {
  name = 'AmJobs1764100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'jobs',
        columns: [
          { name: 'id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'name', type: 'varchar', length: '64' },
          { name: 'state', type: 'varchar', length: '16' },
          { name: 'reason', type: 'text', isNullable: true },
          { name: 'generation', type: 'integer' },
          { name: 'spec', type: 'text' },
          { name: 'pipeline', type: 'varchar', length: '64' },
          { name: 'pipeline_version', type: 'integer', isNullable: true },
          { name: 'prepared', type: 'text', isNullable: true },
          { name: 'progress', type: 'text' },
          { name: 'validation', type: 'text' },
          { name: 'model_version', type: 'integer', isNullable: true },
          { name: 'last_seq', type: 'integer' },
          { name: 'scheduling_since', type: 'bigint', isNullable: true },
          { name: 'created_at', type: 'bigint' },
          { name: 'updated_at', type: 'bigint' },
        ],
      }),
    );
    await queryRunner.createIndex(
      'jobs',
      new TableIndex({ name: 'idx_jobs_state', columnNames: ['state'] }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'job_roles',
        columns: [
          { name: 'job_id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'role', type: 'varchar', length: '16', isPrimary: true },
          { name: 'generation', type: 'integer', isPrimary: true },
          { name: 'attempt', type: 'integer', isPrimary: true },
          { name: 'kind', type: 'varchar', length: '8' },
          { name: 'role_index', type: 'integer' },
          { name: 'state', type: 'varchar', length: '16' },
          { name: 'node_id', type: 'varchar', length: '64', isNullable: true },
          { name: 'reason', type: 'text', isNullable: true },
          { name: 'updated_at', type: 'bigint' },
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'job_events',
        columns: [
          {
            name: 'id',
            type: 'integer',
            isPrimary: true,
            isGenerated: true,
            generationStrategy: 'increment',
          },
          { name: 'job_id', type: 'varchar', length: '64' },
          { name: 'seq', type: 'integer' },
          { name: 'type', type: 'varchar', length: '16' },
          { name: 'from_state', type: 'varchar', length: '16', isNullable: true },
          { name: 'to_state', type: 'varchar', length: '16', isNullable: true },
          { name: 'role', type: 'varchar', length: '16', isNullable: true },
          { name: 'detail', type: 'text' },
          { name: 'at', type: 'bigint' },
        ],
      }),
    );
    await queryRunner.createIndex(
      'job_events',
      new TableIndex({
        name: 'idx_job_events_job_seq',
        columnNames: ['job_id', 'seq'],
        isUnique: true,
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'job_checkpoints',
        columns: [
          { name: 'job_id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'generation', type: 'integer', isPrimary: true },
          { name: 'step', type: 'bigint', isPrimary: true },
          { name: 'manifest', type: 'varchar', length: '512' },
          { name: 'objects', type: 'text' },
          { name: 'created_at', type: 'bigint' },
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'model_versions',
        columns: [
          { name: 'model', type: 'varchar', length: '64', isPrimary: true },
          { name: 'version', type: 'integer', isPrimary: true },
          { name: 'job_id', type: 'varchar', length: '64' },
          { name: 'pipeline', type: 'varchar', length: '64' },
          { name: 'pipeline_version', type: 'integer' },
          { name: 'objects', type: 'text' },
          { name: 'metrics', type: 'text' },
          { name: 'is_default', type: 'boolean' },
          { name: 'pinned', type: 'boolean' },
          { name: 'created_at', type: 'bigint' },
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['model_versions', 'job_checkpoints', 'job_events', 'job_roles', 'jobs']) {
      await queryRunner.dropTable(table);
    }
  }
}
