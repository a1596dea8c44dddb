import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/**
 * Failover state of the am's jobs: `jobs.failover` (failures per role, backoff and export
 * deadlines, JSON) and `job_roles.start` (how an incarnation starts). Portable to SQLite and
 * PostgreSQL; rows from before get the defaults.
 */
export class AmJobFailover1764200000000 implements MigrationInterface {
  name = 'AmJobFailover1764200000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn(
      'jobs',
      new TableColumn({ name: 'failover', type: 'text', isNullable: true }),
    );
    await queryRunner.addColumn(
      'job_roles',
      new TableColumn({ name: 'start', type: 'varchar', length: '16', default: "'fresh'" }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn('job_roles', 'start');
    await queryRunner.dropColumn('jobs', 'failover');
  }
}
