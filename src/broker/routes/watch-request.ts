import type { IncomingMessage, ServerResponse } from 'node:http';

import { Type, type Static } from '@sinclair/typebox';

import type { BrokerContext } from '../broker-context.ts';
import { longPoll } from '../change-notifier.ts';

/** `?since=<version>&wait=<seconds>`: the resume token of a watch and how long to hold the request. */
export const WatchQuery = Type.Object(
  {
    since: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'the version last seen' })),
    wait: Type.Optional(Type.Integer({ minimum: 0, maximum: 60, description: 'seconds to wait for a change (default 30)' })),
  },
  { additionalProperties: false },
);

/**
 * Serves a watched view: at once when it differs from `since`, else when it changes within
 * `wait` seconds, else `undefined` (the route answers 304 and the watcher asks again). The
 * request is released early when the client goes away.
 */
export async function watch<T>(
  request: { readonly raw: IncomingMessage; readonly query: Static<typeof WatchQuery> },
  context: Pick<BrokerContext, 'changes'>,
  compute: () => Promise<T>,
): Promise<{ version: string; view: T } | undefined> {
  const gone = new AbortController();
  const onClose = () => gone.abort();
  request.raw.once('close', onClose);
  try {
    return await longPoll({ since: request.query.since, waitMs: (request.query.wait ?? 30) * 1000, compute, notifier: context.changes, signal: gone.signal });
  } finally {
    request.raw.off('close', onClose);
  }
}

/**
 * Aborted when the client goes away before its answer is written: a request the broker holds
 * (an app create waiting for room) then stops instead of acting for nobody. The response's
 * 'close', not the request's: a request with a body ends as soon as the body is read.
 */
export function clientGone(response: ServerResponse): AbortSignal {
  const gone = new AbortController();
  response.once('close', () => {
    if (!response.writableFinished) gone.abort();
  });
  return gone.signal;
}
