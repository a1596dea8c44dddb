import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';

/** Creates the am's node registry tables (nodes, node_events); portable to SQLite and PostgreSQL. */
export class AmNodes1764000000000 implements MigrationInterface {
  name = 'AmNodes1764000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'nodes',
        columns: [
          { name: 'node_id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'incarnation', type: 'varchar', length: '64' },
          { name: 'kind', type: 'varchar', length: '32' },
          { name: 'slots', type: 'integer' },
          { name: 'version', type: 'varchar', length: '64' },
          { name: 'host', type: 'varchar', length: '255' },
          { name: 'http_port', type: 'integer' },
          { name: 'started_at', type: 'varchar', length: '40' },
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'registered_at', type: 'bigint' },
          { name: 'last_heartbeat_at', type: 'bigint', isNullable: true },
          { name: 'last_seq', type: 'bigint' },
          { name: 'running_roles', type: 'text' },
          { name: 'reservations', type: 'text' },
          { name: 'updated_at', type: 'bigint' },
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'node_events',
        columns: [
          {
            name: 'id',
            type: 'integer',
            isPrimary: true,
            isGenerated: true,
            generationStrategy: 'increment',
          },
          { name: 'node_id', type: 'varchar', length: '64' },
          { name: 'type', type: 'varchar', length: '16' },
          { name: 'from_status', type: 'varchar', length: '16', isNullable: true },
          { name: 'to_status', type: 'varchar', length: '16' },
          { name: 'reason', type: 'text' },
          { name: 'at', type: 'bigint' },
        ],
      }),
    );
    await queryRunner.createIndex(
      'node_events',
      new TableIndex({ name: 'idx_node_events_node', columnNames: ['node_id', 'id'] }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('node_events');
    await queryRunner.dropTable('nodes');
  }
}
