import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import type { Logger } from 'pino';

import type { AgentHttpRouter, AgentRequest, AgentResponse } from './agent-http-router.ts';
import { streamGearArchive } from './gear-archive.ts';
import { readGearManifest, refuseArchivePath } from './gear-manifest.ts';
import type { MoveTokenVerifier } from './move-token-verifier.ts';

/** What serving a move needs from the agent's gears: the executor provides both. */
export interface MoveSourceGears {
  /** The gear's directory when the gear is on this node, else undefined. */
  gearRoot(gearId: string): string | undefined;
  /** SIGSTOPs the gear for the move's final copy; false when it has no live process to pause. */
  pauseForMove(gearId: string, moveId: string): boolean;
}

/** A request body this large is not a list of paths. */
const MAX_ARCHIVE_REQUEST_BYTES = 16 * 1024 * 1024;

/**
 * The source agent's half of a move (docs/moves.md, "Agent to agent"): the gear's manifest, a tar
 * of requested paths, and the pause for the final copy. Every call carries the move token as
 * `Authorization: Bearer`; the broker says which gear the token opens, and nothing outside that
 * gear's directory (nor its gear.json and log/) is ever served.
 */
export function registerMoveSourceRoutes(router: AgentHttpRouter, options: { readonly verifier: MoveTokenVerifier; readonly gears: MoveSourceGears; readonly log: Logger; readonly onPause: () => void }): void {
  const { verifier, gears, log } = options;

  /** The gear the request may read, or the error answer. */
  async function authorize(request: AgentRequest): Promise<{ gearId: string; root: string } | AgentResponse> {
    const moveId = request.params.moveId!;
    const header = request.raw.headers.authorization ?? '';
    const token = /^Bearer (\S+)$/i.exec(header)?.[1];
    if (!token) return failure(401, 'move_token_required', 'present the move token as Authorization: Bearer <token>');
    const verdict = await verifier.verify(moveId, token);
    if (!verdict.ok) {
      log.warn({ move: moveId, reason: verdict.reason, detail: verdict.detail }, 'move token refused');
      // The broker being down is not the caller's fault, and it may retry: 503, and still nothing served.
      return verdict.reason === 'unavailable' ? failure(503, 'move_verification_unavailable', `the broker could not verify the move token: ${verdict.detail}`) : failure(401, 'invalid_move_token', `not a valid token for move ${moveId}`);
    }
    const root = gears.gearRoot(verdict.gearId);
    if (root === undefined) return failure(403, 'gear_not_here', `gear ${verdict.gearId} of move ${moveId} is not on this node`);
    return { gearId: verdict.gearId, root };
  }

  router.add('GET', '/moves/:moveId/manifest', async (request) => {
    const gear = await authorize(request);
    if (!('root' in gear)) return gear;
    return { status: 200, json: readGearManifest(gear.root) };
  });

  router.add('POST', '/moves/:moveId/archive', async (request) => {
    const gear = await authorize(request);
    if (!('root' in gear)) return gear;
    let paths: unknown;
    try {
      paths = (JSON.parse(await readBody(request, MAX_ARCHIVE_REQUEST_BYTES)) as { paths?: unknown }).paths;
    } catch (error) {
      return failure(400, 'invalid_archive_request', `expected {paths: [...]}: ${(error as Error).message}`);
    }
    if (!Array.isArray(paths)) return failure(400, 'invalid_archive_request', 'expected {paths: [...]}');
    // All checked before the first byte is sent: one bad path refuses the whole archive.
    for (const path of paths) {
      const refusal = refuseArchivePath(gear.root, path);
      if (refusal !== null) {
        log.warn({ move: request.params.moveId, gear: gear.gearId, path }, `archive path refused: ${refusal}`);
        return failure(400, 'path_refused', `${JSON.stringify(path)}: ${refusal}`);
      }
    }
    return {
      stream: async (response) => {
        response.writeHead(200, { 'content-type': 'application/x-tar' });
        await pipeline(Readable.from(streamGearArchive(gear.root, paths as string[])), response).catch((error: unknown) => {
          log.warn({ err: error, move: request.params.moveId, gear: gear.gearId }, 'archive stream failed');
          response.destroy();
        });
      },
    };
  });

  router.add('POST', '/moves/:moveId/pause', async (request) => {
    const gear = await authorize(request);
    if (!('root' in gear)) return gear;
    const paused = gears.pauseForMove(gear.gearId, request.params.moveId!);
    log.info({ move: request.params.moveId, gear: gear.gearId, paused }, paused ? 'gear paused for the final copy of its move' : 'no gear process to pause for the move');
    options.onPause();
    return { status: 204 };
  });
}

function failure(status: number, code: string, message: string): AgentResponse {
  return { status, json: { error: { code, message } } };
}

async function readBody(request: AgentRequest, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request.raw) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new Error(`request body over ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
