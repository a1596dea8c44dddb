import type { SourceDeclaration } from '@dln/contracts';
import { bigintAsNumber, Column, Entity, jsonText, PrimaryColumn } from '@dln/persistence';

/** One declared source; the declaration is kept whole (validated on the way in). */
@Entity({ name: 'sources' })
export class SourceEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  name!: string;

  @Column({ type: 'text', transformer: jsonText })
  declaration!: SourceDeclaration;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintAsNumber })
  createdAt!: number;

  @Column({ name: 'updated_at', type: 'bigint', transformer: bigintAsNumber })
  updatedAt!: number;
}
