import { Column, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import { bigintAsNumber, jsonText } from '../transformers';

/** One registered node as the AM last saw it (am owns this table). */
@Entity({ name: 'nodes' })
export class NodeRow {
  @PrimaryColumn({ name: 'node_id', type: 'varchar', length: 64 })
  nodeId!: string;

  @Column({ type: 'varchar', length: 64 })
  incarnation!: string;

  @Column({ type: 'varchar', length: 32 })
  kind!: string;

  @Column({ type: 'integer' })
  slots!: number;

  @Column({ type: 'varchar', length: 64 })
  version!: string;

  @Column({ type: 'varchar', length: 255 })
  host!: string;

  @Column({ name: 'http_port', type: 'integer' })
  httpPort!: number;

  @Column({ name: 'started_at', type: 'varchar', length: 40 })
  startedAt!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: string;

  @Column({ name: 'registered_at', type: 'bigint', transformer: bigintAsNumber })
  registeredAt!: number;

  @Column({
    name: 'last_heartbeat_at',
    type: 'bigint',
    nullable: true,
    transformer: bigintAsNumber,
  })
  lastHeartbeatAt!: number | null;

  @Column({ name: 'last_seq', type: 'bigint', transformer: bigintAsNumber })
  lastSeq!: number;

  /** RunningRole[] as JSON. */
  @Column({ name: 'running_roles', type: 'text', transformer: jsonText })
  runningRoles!: unknown;

  /** Role keys placed on the node and not yet released, as JSON. */
  @Column({ type: 'text', transformer: jsonText })
  reservations!: unknown;

  @Column({ name: 'updated_at', type: 'bigint', transformer: bigintAsNumber })
  updatedAt!: number;
}

/** Every registration and status change of a node, append-only (am owns this table). */
@Entity({ name: 'node_events' })
@Index('idx_node_events_node', ['nodeId', 'id'])
export class NodeEventRow {
  @PrimaryGeneratedColumn('increment', { type: 'integer' })
  id!: number;

  @Column({ name: 'node_id', type: 'varchar', length: 64 })
  nodeId!: string;

  @Column({ type: 'varchar', length: 16 })
  type!: string;

  @Column({ name: 'from_status', type: 'varchar', length: 16, nullable: true })
  fromStatus!: string | null;

  @Column({ name: 'to_status', type: 'varchar', length: 16 })
  toStatus!: string;

  @Column({ type: 'text' })
  reason!: string;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  at!: number;
}
