import { parentPort } from 'node:worker_threads';
import { FromParser, ParserState, ToParser } from './parse-protocol';

// Entry of a parsing worker thread (see ParsePool): JSON parsing, validation and encoding of
// large request bodies run here, off the service's event loop.
const port = parentPort;
if (!port) throw new Error('parse-worker must run in a worker thread');
const state = new ParserState();
port.on('message', (message: ToParser) => {
  const answer: FromParser | undefined = state.handle(message);
  if (!answer) return;
  port.postMessage(
    answer,
    answer.ok
      ? [answer.batch.dense.buffer as ArrayBuffer, answer.batch.ids.buffer as ArrayBuffer]
      : [],
  );
});
