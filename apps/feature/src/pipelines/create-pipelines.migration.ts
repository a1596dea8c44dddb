import { MigrationInterface, QueryRunner, Table } from '@dln/persistence';

/** The feature service's own tables: pipelines and their fitted versions. */
export class CreatePipelines1764100000000 implements MigrationInterface {
  name = 'CreatePipelines1764100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'pipelines',
        columns: [
          { name: 'name', type: 'varchar', length: '64', isPrimary: true },
          { name: 'source', type: 'varchar', length: '64' },
          { name: 'spec', type: 'text' },
          { name: 'created_at', type: 'bigint' },
          { name: 'updated_at', type: 'bigint' },
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'pipeline_versions',
        columns: [
          { name: 'pipeline', type: 'varchar', length: '64', isPrimary: true },
          { name: 'version', type: 'integer', isPrimary: true },
          { name: 'fitted_at', type: 'bigint' },
          { name: 'record_count', type: 'bigint' },
          { name: 'source_sequence', type: 'bigint' },
          { name: 'snapshot', type: 'text' },
          { name: 'output_schema', type: 'text' },
          { name: 'materialization', type: 'text' },
        ],
        foreignKeys: [
          {
            columnNames: ['pipeline'],
            referencedTableName: 'pipelines',
            referencedColumnNames: ['name'],
          },
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('pipeline_versions');
    await queryRunner.dropTable('pipelines');
  }
}
