import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

import { InputError } from '../../core/errors.ts';
import { ErrorBody, EventsQuery, EventView, Items } from '../api-schemas.ts';
import { eventView } from '../api-views.ts';
import type { BrokerContext } from '../broker-context.ts';
import { requireUser } from '../request-auth.ts';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody };
const KEEP_ALIVE_MS = 15_000;
/** Also re-read the store this often: events written by another broker replica wake no one here. */
const POLL_MS = 1_000;

export function registerEventRoutes(server: FastifyInstance, context: BrokerContext): void {
  const app = server.withTypeProvider<TypeBoxTypeProvider>();
  const { store, events } = context;

  app.get(
    '/events',
    {
      schema: {
        tags: ['events'],
        summary: 'List events (yours; all for an admin), or follow them as Server-Sent Events with follow=true',
        querystring: EventsQuery,
        response: { 200: Items(EventView), ...errors },
      },
    },
    async (request, reply) => {
      const user = requireUser(request.principal);
      const userId = user.role === 'admin' ? undefined : user.id;
      const { kind, limit = 100, follow = false, newest = false } = request.query;
      if (newest && follow) throw new InputError('newest lists the latest events; it cannot be followed (follow from their last id with after)', 'newest');
      let after = request.query.after ?? 0;
      const lastEventId = request.headers['last-event-id'];
      if (lastEventId !== undefined) {
        if (!/^\d+$/.test(String(lastEventId))) throw new InputError('Last-Event-ID must be an event id', 'Last-Event-ID');
        after = Math.max(after, Number(lastEventId));
      }
      if (!follow) {
        return { items: (await store.listEvents({ after, limit, userId, kind, newest })).map(eventView) };
      }

      // IMPORTANT: hijack before writing, because fastify must not also send a reply of its own.
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      raw.write(': following events\n\n');
      const closed = new AbortController();
      request.raw.on('close', () => closed.abort());
      let lastWrite = Date.now();
      try {
        while (!closed.signal.aborted) {
          const batch = await store.listEvents({ after, limit: 500, userId, kind });
          for (const event of batch) {
            raw.write(`id: ${event.id}\nevent: ${event.kind}\ndata: ${JSON.stringify(eventView(event))}\n\n`);
            after = event.id;
            lastWrite = Date.now();
          }
          if (batch.length === 500) continue;
          if (Date.now() - lastWrite >= KEEP_ALIVE_MS) {
            raw.write(': keep-alive\n\n');
            lastWrite = Date.now();
          }
          await events.waitForEvent(POLL_MS, closed.signal);
        }
      } catch (error) {
        context.log.warn({ err: error }, 'event stream ended by an error');
      } finally {
        raw.end();
      }
    },
  );
}
