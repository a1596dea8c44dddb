import { MigrationInterface, QueryRunner, Table } from '@dln/persistence';

/** The ingest service's own table of source declarations. */
export class CreateSources1764000000000 implements MigrationInterface {
  name = 'CreateSources1764000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'sources',
        columns: [
          { name: 'name', type: 'varchar', length: '64', isPrimary: true },
          { name: 'declaration', type: 'text' },
          { name: 'created_at', type: 'bigint' },
          { name: 'updated_at', type: 'bigint' },
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('sources');
  }
}
