import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { isGeartideError } from '../core/errors.ts';
import type { ApiEvent } from './api-types.ts';
import type { CliContext } from './cli-context.ts';
import { integerOption } from './integer-option.ts';
import { SseParser } from './sse-parser.ts';

interface EventOptions {
  follow?: boolean;
  after?: number;
  kind?: string;
  limit?: number;
}

/** First and longest wait before reconnecting a dropped stream, unless the broker says `retry:`. */
const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 15_000;

/** `geartide events`: the platform's event log, once or followed live (Server-Sent Events). */
export function registerEventCommands(program: Command, context: CliContext): void {
  program
    .command('events')
    .description('print platform events: time severity kind subject message')
    .option('-f, --follow', 'keep printing new events as they happen (Ctrl-C to stop)')
    .option('--after <id>', 'the events after this event id (without it: the latest ones)', integerOption(0))
    .option('--kind <kind>', 'only events of this kind, e.g. node.lost')
    .option('--limit <n>', 'at most this many events (without --follow; default 100)', integerOption(1))
    .action(async (options: EventOptions, command: Command) => {
      const json = context.wantsJson(command);
      if (options.follow === true) return followEvents(context, options, json);
      // Without --after, the latest events, as tail shows a log's end; with it, the next ones.
      const list = await context.client().listEvents({ after: options.after, limit: options.limit, kind: options.kind, newest: options.after === undefined });
      if (json) return context.printJson(list);
      for (const event of list.items) context.print(eventLine(event));
    });
}

export function eventLine(event: ApiEvent): string {
  return `${event.time} ${event.severity} ${event.kind} ${event.subject} ${event.message}`.replace(/[\r\n]+/g, ' ');
}

/**
 * Follow the event stream until Ctrl-C. A stream that drops (broker restart, network, silence past
 * the idle timeout) is reopened with Last-Event-ID, so no event is lost or printed twice; only an
 * answer that retrying cannot change (401, 403, 404, bad input) ends the command with an error.
 */
async function followEvents(context: CliContext, options: EventOptions, json: boolean): Promise<void> {
  const client = context.client();
  const abort = new AbortController();
  // With a SIGINT listener installed node does not kill the process: we stop cleanly and exit 0.
  const stop = (): void => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  let lastId = options.after;
  let delay = RECONNECT_FIRST_MS;
  // One warning per outage, not one per retry: a broker down for an hour must not flood stderr.
  let warned = false;
  try {
    while (!abort.signal.aborted) {
      const parser = new SseParser();
      let reason = 'the broker closed the stream';
      try {
        const body = await client.openEventStream({ after: lastId, lastEventId: lastId, kind: options.kind, signal: abort.signal });
        delay = RECONNECT_FIRST_MS;
        warned = false;
        const decoder = new TextDecoder();
        for await (const chunk of body) {
          for (const message of parser.push(decoder.decode(chunk, { stream: true }))) {
            const event = parseEvent(message.data);
            if (event === undefined) continue;
            // IMPORTANT: skip what was already printed, because a broker may replay from an older id.
            if (lastId !== undefined && event.id <= lastId) continue;
            lastId = event.id;
            if (!kindMatches(event.kind, options.kind)) continue;
            if (json) context.io.stdout.write(`${JSON.stringify(event)}\n`);
            else context.print(eventLine(event));
          }
        }
      } catch (error) {
        if (abort.signal.aborted) break;
        if (isGeartideError(error) ? !['transient', 'internal'].includes(error.category) : !isNetworkError(error)) throw error;
        reason = error instanceof Error ? error.message : String(error);
      }
      if (abort.signal.aborted) break;
      const wait = parser.retryMs ?? delay;
      if (!warned) context.warn(`warning: event stream dropped (${reason}); reconnecting (Ctrl-C to stop)`);
      warned = true;
      try {
        await sleep(wait, undefined, { signal: abort.signal });
      } catch {
        break; // Ctrl-C while waiting
      }
      delay = Math.min(delay * 2, RECONNECT_MAX_MS);
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

function parseEvent(data: string): ApiEvent | undefined {
  try {
    const value = JSON.parse(data) as ApiEvent;
    return typeof value === 'object' && value !== null && typeof value.id === 'number' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Socket and undici errors carry a string `code`; anything else is a bug, not a reason to retry. */
function isNetworkError(error: unknown): boolean {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
}

/** `--kind node` matches `node` and `node.lost`; the broker filters too, this keeps the two in step. */
function kindMatches(kind: string, wanted: string | undefined): boolean {
  return wanted === undefined || kind === wanted || kind.startsWith(`${wanted}.`);
}
