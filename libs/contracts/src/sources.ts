import { z } from 'zod';
import { resourceName } from './names';
import { isTimeZone } from './time-zones';

/**
 * Sources: declared record schemas, how records are ingested (REST and NATS), and the stored
 * raw record format that every consumer of a raw stream (the feature service) reads.
 *
 * STORED RAW RECORD FORMAT (one JetStream message per record):
 * - subject: `Subjects.raw(source, partition)`; stream `Subjects.rawStream(source)` over
 *   `Subjects.rawAll(source)`.
 * - partition: FNV-1a 32-bit hash of the UTF-8 bytes of the partition-key value's canonical text
 *   (strings as is, numbers and timestamps as `String(epochMs | number)`, booleans `true`/`false`),
 *   unsigned, modulo `partitions`; 0 when the source has no partition key or the value is null.
 * - body: a UTF-8 JSON object (`RawRecord`) holding exactly the declared fields plus the id field:
 *   numbers/integers as JSON numbers, booleans as booleans, strings as strings, timestamps
 *   normalized to epoch milliseconds (JSON numbers), absent or null nullable fields as `null`.
 *   The record id sits in the source's id field (`SourceDescription.idField`): the value as given
 *   when it came from the data, or generated (`idFrom=row`) as a decimal string (or a number when
 *   the declared id field is an integer).
 * - headers: `Nats-Msg-Id: <source>:<recordId>` (JetStream stores a given id once within the
 *   stream's duplicate window, `duplicateWindowSeconds`: the de-duplication horizon; a resend
 *   after the window is stored again) and `Dln-Record-Id: <recordId>`.
 */

/** Header names on stored raw records and on NATS ingest requests. */
export const RecordHeader = {
  /** JetStream's de-duplication header: `<source>:<recordId>`. */
  msgId: 'Nats-Msg-Id',
  /** The record id as text, so consumers need not parse the body to find it. */
  recordId: 'Dln-Record-Id',
  /** NATS ingest request option: `field` or `row` (see IngestOptions.idFrom). */
  idFrom: 'Dln-Id-From',
  /** NATS ingest request option: offset added to the row number for generated ids. */
  idOffset: 'Dln-Id-Offset',
  /** NATS ingest request option: `true` to store nothing when any record is invalid. */
  atomic: 'Dln-Atomic',
} as const;
export type RecordHeader = (typeof RecordHeader)[keyof typeof RecordHeader];

/** Content types accepted by `POST /v1/sources/{name}/records`; anything else is a 415. */
export const IngestContentType = {
  json: 'application/json',
  ndjson: 'application/x-ndjson',
  csv: 'text/csv',
} as const;
export type IngestContentType = (typeof IngestContentType)[keyof typeof IngestContentType];

export const FieldType = {
  Number: 'number',
  Integer: 'integer',
  String: 'string',
  Boolean: 'boolean',
  Timestamp: 'timestamp',
} as const;
export type FieldType = (typeof FieldType)[keyof typeof FieldType];

/** Bounds on declarations and records; every outside input is size-bounded. */
export const SourceLimits = {
  maxFields: 256,
  maxPartitions: 64,
  /** Default and ceiling of a string field's length, in UTF-16 code units. */
  maxStringLength: 65_536,
  maxRecordIdLength: 200,
  /** Default de-duplication horizon: JetStream's duplicate_window of the raw stream. */
  defaultDuplicateWindowSeconds: 120,
  maxDuplicateWindowSeconds: 7 * 24 * 3600,
  /** Default REST body limit (the ingest service's config can change it). */
  defaultMaxBodyBytes: 64 * 1024 * 1024,
  /** At most this many rejections are listed in one answer; `rejectedCount` has the total. */
  maxReportedRejections: 1000,
} as const;

/** Field name rule: usable as a JSON key, a CSV header and a dotted issue path segment. */
export const FIELD_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

/** Name of the id field added to sources that declare none. */
export const DEFAULT_ID_FIELD = '_id';

const positiveInt = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/** One declared field. `timezone` (IANA, e.g. `America/New_York`) applies to zone-less timestamps. */
export const fieldDeclarationSchema = z
  .object({
    name: z.string().regex(FIELD_NAME_PATTERN, {
      message: 'must be a letter or "_" then letters, digits, "_" or "-", at most 64',
    }),
    type: z.enum([
      FieldType.Number,
      FieldType.Integer,
      FieldType.String,
      FieldType.Boolean,
      FieldType.Timestamp,
    ]),
    nullable: z.boolean().default(false),
    timezone: z.string().refine(isTimeZone, { message: 'must be an IANA time zone' }).optional(),
    maxLength: z.number().int().positive().max(SourceLimits.maxStringLength).optional(),
  })
  .strict();
export type FieldDeclaration = z.infer<typeof fieldDeclarationSchema>;

/** Limits of the source's raw stream (JetStream max_age, max_bytes, max_msgs); absent = unlimited. */
export const retentionSchema = z
  .object({
    maxAgeSeconds: positiveInt.optional(),
    maxBytes: positiveInt.optional(),
    maxMessages: positiveInt.optional(),
  })
  .strict();
export type Retention = z.infer<typeof retentionSchema>;

/**
 * `POST /v1/sources`: declares (or updates) a source. `idField` names a declared string or
 * integer field that identifies a record; without one, records get their id in `_id` from the
 * request (`idFrom=row`). `unknownFields`: `reject` refuses a record carrying an undeclared
 * field, `drop` stores it without that field.
 */
export const sourceDeclarationSchema = z
  .object({
    name: resourceName,
    fields: z.array(fieldDeclarationSchema).min(1).max(SourceLimits.maxFields),
    idField: z.string().optional(),
    partitionKey: z.string().optional(),
    partitions: z.number().int().min(1).max(SourceLimits.maxPartitions).default(1),
    retention: retentionSchema.default({}),
    duplicateWindowSeconds: z
      .number()
      .int()
      .min(1)
      .max(SourceLimits.maxDuplicateWindowSeconds)
      .default(SourceLimits.defaultDuplicateWindowSeconds),
    unknownFields: z.enum(['reject', 'drop']).default('reject'),
  })
  .strict()
  .superRefine((decl, ctx) => {
    const byName = new Map<string, FieldDeclaration>();
    decl.fields.forEach((field, index) => {
      if (byName.has(field.name))
        ctx.addIssue({
          code: 'custom',
          path: ['fields', index, 'name'],
          message: `duplicate field "${field.name}"`,
        });
      byName.set(field.name, field);
      if (field.timezone !== undefined && field.type !== FieldType.Timestamp) {
        ctx.addIssue({
          code: 'custom',
          path: ['fields', index, 'timezone'],
          message: 'only a timestamp field takes a timezone',
        });
      }
      if (field.maxLength !== undefined && field.type !== FieldType.String) {
        ctx.addIssue({
          code: 'custom',
          path: ['fields', index, 'maxLength'],
          message: 'only a string field takes maxLength',
        });
      }
    });
    if (decl.idField !== undefined) {
      const field = byName.get(decl.idField);
      if (!field)
        ctx.addIssue({
          code: 'custom',
          path: ['idField'],
          message: `"${decl.idField}" is not a declared field`,
        });
      else if (field.type !== FieldType.String && field.type !== FieldType.Integer) {
        ctx.addIssue({
          code: 'custom',
          path: ['idField'],
          message: 'the id field must be a string or an integer',
        });
      } else if (field.nullable)
        ctx.addIssue({
          code: 'custom',
          path: ['idField'],
          message: 'the id field cannot be nullable',
        });
    } else if (byName.has(DEFAULT_ID_FIELD)) {
      ctx.addIssue({
        code: 'custom',
        path: ['fields'],
        message: `"${DEFAULT_ID_FIELD}" is reserved for generated ids; name it as idField`,
      });
    }
    if (decl.partitionKey !== undefined && !byName.has(decl.partitionKey)) {
      ctx.addIssue({
        code: 'custom',
        path: ['partitionKey'],
        message: `"${decl.partitionKey}" is not a declared field`,
      });
    }
    const maxAge = decl.retention.maxAgeSeconds;
    if (maxAge !== undefined && decl.duplicateWindowSeconds > maxAge) {
      ctx.addIssue({
        code: 'custom',
        path: ['duplicateWindowSeconds'],
        message: 'cannot exceed retention.maxAgeSeconds',
      });
    }
  });
/** A declaration as sent (defaults optional). */
export type SourceDeclarationInput = z.input<typeof sourceDeclarationSchema>;
/** A declaration with its defaults applied. */
export type SourceDeclaration = z.output<typeof sourceDeclarationSchema>;

/** The id field records of this source carry (declared, or `_id`). */
export function effectiveIdField(decl: Pick<SourceDeclaration, 'idField'>): string {
  return decl.idField ?? DEFAULT_ID_FIELD;
}

/** `GET /v1/sources/{name}` and the `ControlPattern.sourceDescribe` reply. */
export const sourceDescriptionSchema = z.object({
  declaration: sourceDeclarationSchema,
  /** Field of each stored record holding its id. */
  idField: z.string(),
  stream: z.string(),
  subjects: z.object({
    /** NATS request subject for ingest (Subjects.ingest). */
    ingest: z.string(),
    /** Raw partitions wildcard (Subjects.rawAll). */
    raw: z.string(),
    /** Dead letters (Subjects.deadLetter). */
    deadLetter: z.string(),
  }),
  /** What the raw stream holds now (after retention and de-duplication). */
  stored: z.object({
    records: z.number().int().nonnegative(),
    bytes: z.number().int().nonnegative(),
  }),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type SourceDescription = z.infer<typeof sourceDescriptionSchema>;

/** `GET /v1/sources`. */
export const sourceListSchema = z.object({ sources: z.array(sourceDescriptionSchema) });
export type SourceList = z.infer<typeof sourceListSchema>;

/** Request of `ControlPattern.sourceDescribe`. */
export const sourceLookupSchema = z.object({ name: resourceName }).strict();
export type SourceLookup = z.infer<typeof sourceLookupSchema>;

/** Parses a query/header flag: `true`/`1` or `false`/`0`. */
const flag = z.union([
  z.boolean(),
  z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1'),
]);

/**
 * Options of one ingest request (REST query, NATS headers). `idFrom`: `field` takes the id from the
 * source's id field (the default when it declares one); `row` makes id = `idOffset` + the record's
 * 0-based position in the request (CSV: data rows, header excluded), so an upload split over
 * several requests with offsets 0, n, 2n... keeps its ids distinct. `atomic`: any invalid record
 * rejects the whole request and nothing is stored.
 */
export const ingestOptionsSchema = z
  .object({
    atomic: flag.default(false),
    idFrom: z.enum(['field', 'row']).optional(),
    idOffset: z.coerce.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).default(0),
  })
  .strict();
export type IngestOptions = z.output<typeof ingestOptionsSchema>;

/**
 * One refused record: `index` is its 0-based position in the request, `line` its 1-based line in an
 * NDJSON or CSV body, `field` the offending field (null when the record as a whole is wrong).
 */
export const recordRejectionSchema = z.object({
  index: z.number().int().nonnegative(),
  line: z.number().int().positive().optional(),
  field: z.string().nullable(),
  reason: z.string(),
});
export type RecordRejection = z.infer<typeof recordRejectionSchema>;

/**
 * REST answer of `POST /v1/sources/{name}/records`: `accepted` = valid records the stream took,
 * of which `stored` are new and `duplicates` were already there (same id within the duplicate
 * window). 200 when accepted >= 1, else 422 (with an `error` body beside these fields); with
 * `atomic=true` any rejection gives 422 and accepted = 0.
 */
export const ingestResultSchema = z.object({
  accepted: z.number().int().nonnegative(),
  stored: z.number().int().nonnegative(),
  duplicates: z.number().int().nonnegative(),
  rejectedCount: z.number().int().nonnegative(),
  /** At most SourceLimits.maxReportedRejections entries. */
  rejected: z.array(recordRejectionSchema),
});
export type IngestResult = z.infer<typeof ingestResultSchema>;

/** Reply to a NATS ingest request: the REST result plus how many rejections went to the dead-letter subject. */
export const ingestAckSchema = ingestResultSchema.extend({
  deadLettered: z.number().int().nonnegative(),
});
export type IngestAck = z.infer<typeof ingestAckSchema>;

/** One message on `Subjects.deadLetter(source)` (core NATS, JSON): a refused record and why. */
export const deadLetterSchema = recordRejectionSchema.extend({
  source: z.string(),
  record: z.unknown(),
  receivedAt: z.string(),
});
export type DeadLetter = z.infer<typeof deadLetterSchema>;

/** Value of one stored field (timestamps as epoch milliseconds). */
export type RawValue = number | string | boolean | null;
/** Body of one stored raw record: the declared fields plus the id field (see the format above). */
export type RawRecord = Record<string, RawValue>;
