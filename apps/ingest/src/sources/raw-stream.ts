import { SourceDeclaration, Subjects } from '@dln/contracts';
import { DiscardPolicy, RetentionPolicy, StorageType, type StreamConfig } from '@nats-io/jetstream';

const NANOS_PER_SECOND = 1_000_000_000;

/**
 * The raw stream of a source: every partition subject, limits retention from the declaration
 * (absent limit = unlimited), and the declaration's duplicate window, JetStream's de-duplication
 * horizon for `Nats-Msg-Id`.
 */
export function rawStreamConfig(
  subjects: Subjects,
  decl: SourceDeclaration,
  replicas: number,
): Partial<StreamConfig> & { name: string; subjects: string[] } {
  const { maxAgeSeconds, maxBytes, maxMessages } = decl.retention;
  return {
    name: subjects.rawStream(decl.name),
    subjects: [subjects.rawAll(decl.name)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    num_replicas: replicas,
    max_age: (maxAgeSeconds ?? 0) * NANOS_PER_SECOND,
    max_bytes: maxBytes ?? -1,
    max_msgs: maxMessages ?? -1,
    duplicate_window: decl.duplicateWindowSeconds * NANOS_PER_SECOND,
  };
}
