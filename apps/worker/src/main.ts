import 'reflect-metadata';
import { RoleEntry } from '@dln/contracts';
import { loadConfig, nodeEnvSchema, startNodeService } from '@dln/platform';
import { join } from 'node:path';

/** Role entry modules this node can run, by the name the AM's assign command uses. */
const ROLE_ENTRIES = { [RoleEntry.Worker]: join(__dirname, 'roles', 'worker-role.js') };

async function main(): Promise<void> {
  const config = loadConfig(nodeEnvSchema, process.env);
  await startNodeService({
    service: 'worker',
    kind: 'worker',
    config,
    version: '0.1.0',
    roleEntries: ROLE_ENTRIES,
  });
}

main().catch((err: unknown) => {
  const line = { level: 'error', service: 'worker', msg: 'start failed', error: String(err) };
  process.stderr.write(`${JSON.stringify(line)}\n`);
  process.exit(1);
});
