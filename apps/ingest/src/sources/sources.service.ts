import {
  effectiveIdField,
  NotFoundError,
  parseInput,
  resourceName,
  SourceDeclaration,
  sourceDeclarationSchema,
  SourceDescription,
  Subjects,
  UnavailableError,
} from '@dln/contracts';
import {
  ensureStream,
  isNotFound,
  jetStreamManagerOf,
  type JetStreamManager,
  type NatsConnection,
} from '@dln/messaging';
import { DataSource, Repository } from '@dln/persistence';
import { DATA_SOURCE, NATS_CONNECTION, SUBJECTS } from '@dln/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { IngestConfig } from '../ingest.config';
import { INGEST_CONFIG } from '../ingest.tokens';
import { rawStreamConfig } from './raw-stream';
import { SourceEntity } from './source.entity';

/** Owns source declarations (SQL) and their raw streams (JetStream). */
@Injectable()
export class SourcesService {
  private readonly logger = new Logger(SourcesService.name);
  private readonly repository: Repository<SourceEntity>;
  private readonly cache = new Map<string, { declaration: SourceDeclaration; loadedAt: number }>();
  private jsm: Promise<JetStreamManager> | undefined;

  constructor(
    @Inject(DATA_SOURCE) dataSource: DataSource,
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(INGEST_CONFIG) private readonly config: IngestConfig,
  ) {
    this.repository = dataSource.getRepository(SourceEntity);
  }

  /** Creates or updates a source: its stream first, so no row exists without a stream. */
  async declare(input: unknown): Promise<{ created: boolean; description: SourceDescription }> {
    const declaration = parseInput(sourceDeclarationSchema, input, 'source declaration');
    const existing = await this.repository.findOneBy({ name: declaration.name });
    try {
      await ensureStream(
        await this.manager(),
        rawStreamConfig(this.subjects, declaration, this.config.RAW_STREAM_REPLICAS),
      );
    } catch (cause) {
      throw new UnavailableError(
        `could not create or update the raw stream of "${declaration.name}"`,
        cause,
      );
    }
    const now = Date.now();
    const entity = this.repository.create({
      name: declaration.name,
      declaration,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    });
    await this.repository.save(entity);
    this.cache.set(declaration.name, { declaration, loadedAt: now });
    this.logger.log({
      msg: existing ? 'source updated' : 'source created',
      source: declaration.name,
    });
    return { created: !existing, description: await this.describeEntity(entity) };
  }

  /** The declaration of a source, from a short-lived cache (SOURCE_CACHE_MS) on the ingest hot path. */
  async declaration(name: string): Promise<SourceDeclaration> {
    const cached = this.cache.get(name);
    if (cached && Date.now() - cached.loadedAt < this.config.SOURCE_CACHE_MS)
      return cached.declaration;
    const entity = await this.find(name);
    this.cache.set(name, { declaration: entity.declaration, loadedAt: Date.now() });
    return entity.declaration;
  }

  async describe(name: string): Promise<SourceDescription> {
    return this.describeEntity(await this.find(name));
  }

  async list(): Promise<SourceDescription[]> {
    const entities = await this.repository.find({ order: { name: 'ASC' } });
    return Promise.all(entities.map((entity) => this.describeEntity(entity)));
  }

  private async find(name: string): Promise<SourceEntity> {
    parseInput(resourceName, name, 'source name');
    const entity = await this.repository.findOneBy({ name });
    if (!entity) throw new NotFoundError('source', name);
    return entity;
  }

  private async describeEntity(entity: SourceEntity): Promise<SourceDescription> {
    const declaration = entity.declaration;
    const stream = this.subjects.rawStream(declaration.name);
    let stored = { records: 0, bytes: 0 };
    try {
      const info = await (await this.manager()).streams.info(stream);
      stored = { records: info.state.messages, bytes: info.state.bytes };
    } catch (err) {
      if (!isNotFound(err))
        throw new UnavailableError(`could not read the raw stream of "${declaration.name}"`, err);
      this.logger.warn({ msg: 'raw stream missing', source: declaration.name, stream });
    }
    return {
      declaration,
      idField: effectiveIdField(declaration),
      stream,
      subjects: {
        ingest: this.subjects.ingest(declaration.name),
        raw: this.subjects.rawAll(declaration.name),
        deadLetter: this.subjects.deadLetter(declaration.name),
      },
      stored,
      createdAt: new Date(entity.createdAt).toISOString(),
      updatedAt: new Date(entity.updatedAt).toISOString(),
    };
  }

  private manager(): Promise<JetStreamManager> {
    this.jsm ??= jetStreamManagerOf(this.nats).catch((err: unknown) => {
      this.jsm = undefined;
      throw err;
    });
    return this.jsm;
  }
}
