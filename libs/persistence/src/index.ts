export * from './data-source';
export * from './transformers';
export {
  DataSource,
  Repository,
  Entity,
  Column,
  PrimaryColumn,
  PrimaryGeneratedColumn,
  Index,
  Table,
  TableIndex,
} from 'typeorm';
export type { MigrationInterface, QueryRunner, EntityManager } from 'typeorm';
export * from './am';
