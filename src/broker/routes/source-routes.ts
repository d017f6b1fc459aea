import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

import { InputError } from '../../core/errors.ts';
import { ErrorBody, SourceView } from '../api-schemas.ts';
import type { BrokerContext } from '../broker-context.ts';
import { requireUser } from '../request-auth.ts';

export const SOURCE_CONTENT_TYPE = 'application/gzip';

/**
 * `POST /sources`: a user uploads an app's source as a tar.gz, then names its id in
 * `POST /domains/:d/apps` or `…/deploy`. Registered in a plugin scope of its own because fastify
 * scopes content-type parsers by plugin: application/gzip, and its larger SOURCE_UPLOAD_LIMIT,
 * are accepted by this route and no other.
 */
export async function registerSourceRoutes(server: FastifyInstance, context: BrokerContext): Promise<void> {
  await server.register(async (scope) => {
    const limit = context.config.sourceUploadLimit;
    // The whole body in one Buffer: the archive is checked end to end and then stored in one row,
    // so streaming would save nothing; the limit bounds the memory it takes.
    scope.addContentTypeParser(SOURCE_CONTENT_TYPE, { parseAs: 'buffer', bodyLimit: limit }, (_request, body, done) => done(null, body));

    scope.withTypeProvider<TypeBoxTypeProvider>().post(
      '/sources',
      {
        bodyLimit: limit,
        schema: {
          tags: ['apps'],
          summary: `Upload an app source: the raw tar.gz of the app's directory as the body (Content-Type: ${SOURCE_CONTENT_TYPE}); use its id in app create or deploy`,
          response: { 201: SourceView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 413: ErrorBody },
        },
      },
      async (request, reply) => {
        const user = requireUser(request.principal);
        if (!Buffer.isBuffer(request.body)) {
          throw new InputError(`send the app directory as a tar.gz with Content-Type: ${SOURCE_CONTENT_TYPE}`, 'Content-Type', 'invalid_source');
        }
        const source = await context.apps.uploadSource(user, request.body);
        return reply.status(201).send({ id: source.id, size: source.size, sha256: source.sha256 });
      },
    );
  });
}
