import { jetStreamManagerOf, NatsConnection } from '@dln/messaging';

/** Deletes every stream (and so KV bucket and object store) named under a test's subject root. */
export async function deleteStreamsOfRoot(nc: NatsConnection, root: string): Promise<number> {
  const jsm = await jetStreamManagerOf(nc);
  const prefix = root.toUpperCase() + '_';
  const names: string[] = [];
  for await (const info of jsm.streams.list()) {
    const name = info.config.name;
    if (
      name.startsWith(prefix) ||
      name.startsWith(`KV_${prefix}`) ||
      name.startsWith(`OBJ_${prefix}`)
    )
      names.push(name);
  }
  for (const name of names) await jsm.streams.delete(name);
  return names.length;
}
