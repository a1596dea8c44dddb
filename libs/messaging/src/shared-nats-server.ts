import { DlnError, ErrorBody, ErrorCode, isErrorBody, ValidationError } from '@dln/contracts';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { ServerNats } from '@nestjs/microservices';
import { decodeJson, encodeJson } from './json-codec';

interface OutgoingPacket {
  response?: unknown;
  err?: unknown;
  isDisposed?: boolean;
}

function errorBodyOf(err: unknown): ErrorBody {
  if (isErrorBody(err)) return err;
  if (err instanceof DlnError) return err.toBody();
  return { error: { code: ErrorCode.Internal, message: 'internal error', retryable: false } };
}

/**
 * Nest's NATS transport on the service's shared connection. Handlers are declared with
 * root-relative patterns (ControlPattern) and subscribed under the configured subject root.
 * Payloads are plain JSON both ways, not Nest's `{pattern, data, id}` envelope, so producers and
 * consumers outside Nest can use them; errors are answered as ErrorBody.
 */
export class SharedNatsServer extends ServerNats {
  private readonly ownSubscriptions: { unsubscribe(): void }[] = [];
  private readonly decoded = new WeakMap<Msg, unknown>();

  constructor(
    private readonly connection: NatsConnection,
    private readonly root: string,
    private readonly defaultQueue?: string,
  ) {
    super(defaultQueue ? { queue: defaultQueue } : {});
    this.deserializer = {
      deserialize: (msg: Msg, options?: { channel?: string; replyTo?: string }) =>
        this.decode(msg, options),
    };
  }

  override async createNatsClient(): Promise<NatsConnection> {
    return this.connection;
  }

  override bindEvents(client: NatsConnection): void {
    for (const [pattern, handler] of this.messageHandlers) {
      const queue = (handler.extras?.['queue'] as string | undefined) ?? this.defaultQueue;
      const subscription = client.subscribe(`${this.root}.${pattern}`, {
        ...(queue ? { queue } : {}),
        callback: this.getMessageHandler(pattern).bind(this),
      });
      this.ownSubscriptions.push(subscription);
    }
  }

  override getPublisher(natsMsg: Msg, _id: string): (packet: OutgoingPacket) => unknown {
    let answered = false;
    return (packet: OutgoingPacket) => {
      if (answered || !natsMsg.reply) return undefined;
      if (packet.err === undefined && !('response' in packet)) return undefined;
      answered = true;
      const body = packet.err !== undefined ? errorBodyOf(packet.err) : (packet.response ?? null);
      return natsMsg.respond(encodeJson(body));
    };
  }

  /** Unsubscribes its handlers; the shared connection is closed by its owner, not here. */
  override async close(): Promise<void> {
    for (const subscription of this.ownSubscriptions.splice(0)) subscription.unsubscribe();
  }

  /** Malformed JSON is answered here, before any handler runs; the parse is done once. */
  override async handleMessage(channel: string, natsMsg: Msg): Promise<unknown> {
    try {
      this.decoded.set(natsMsg, decodeJson(natsMsg.data));
    } catch {
      if (natsMsg.reply) {
        natsMsg.respond(
          encodeJson(
            new ValidationError(`payload on ${natsMsg.subject} is not valid JSON`).toBody(),
          ),
        );
      }
      return undefined;
    }
    return super.handleMessage(channel, natsMsg);
  }

  private decode(
    msg: Msg,
    options?: { channel?: string },
  ): { pattern: string; data: unknown; id?: string } {
    const pattern = options?.channel ?? msg.subject;
    const data = this.decoded.get(msg);
    this.decoded.delete(msg);
    return msg.reply ? { pattern, data, id: msg.reply } : { pattern, data };
  }
}
