import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';

import { assertApiError, withBroker, type BrokerHarness } from '../../support/broker-harness.ts';
import { STORE_DIALECTS, storeSkipReason } from '../../support/stores.ts';

interface SseEvent {
  id: string;
  event: string;
  data: any;
}

/** An open `events?follow=true` stream over a real socket, parsed into events as they arrive. */
class EventStream {
  readonly events: SseEvent[] = [];
  private buffer = '';
  private waiters: Array<() => void> = [];

  private constructor(
    readonly response: IncomingMessage,
    private readonly close: () => void,
  ) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      this.buffer += chunk;
      let end: number;
      while ((end = this.buffer.indexOf('\n\n')) >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const fields = new Map<string, string>();
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(': ');
          if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 2));
        }
        if (fields.has('data')) this.events.push({ id: fields.get('id')!, event: fields.get('event')!, data: JSON.parse(fields.get('data')!) });
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  static open(baseUrl: string, token: string, query: string, headers: Record<string, string> = {}): Promise<EventStream> {
    return new Promise((resolve, reject) => {
      const req = request(`${baseUrl}/api/v1/events?follow=true${query}`, { headers: { authorization: `Bearer ${token}`, ...headers } }, (response) => {
        resolve(new EventStream(response, () => req.destroy()));
      });
      req.on('error', reject);
      req.end();
    });
  }

  /** Waits until `predicate` holds for the events received so far (fails after `timeoutMs`). */
  async waitFor(predicate: (events: SseEvent[]) => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.events)) {
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`stream did not deliver the expected events in ${timeoutMs} ms; got ${JSON.stringify(this.events.map((event) => event.event))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  end(): void {
    this.close();
  }
}

async function kinds(h: BrokerHarness, token: string, query = ''): Promise<string[]> {
  return (await h.ok('GET', `/events${query}`, { token })).items.map((event: { kind: string }) => event.kind);
}

for (const dialect of STORE_DIALECTS) {
  describe(`REST API on ${dialect}: events`, { skip: storeSkipReason(dialect) }, () => {
    it('a user sees only its own events; an admin sees all of them', () =>
      withBroker(dialect, async (h) => {
        const bob = await h.createUser('bob');
        const carol = await h.createUser('carol');
        await h.createDomain(bob, 'bobs');
        await h.createDomain(carol, 'carols');
        await h.createDistrict('east');

        const bobs = await h.ok('GET', '/events', { token: bob.token });
        assert.deepEqual(bobs.items.map((event: { kind: string; subject: string }) => `${event.kind} ${event.subject}`), ['domain.created domain:bobs']);
        const event = bobs.items[0];
        assert.deepEqual(Object.keys(event).sort(), ['data', 'id', 'kind', 'message', 'severity', 'subject', 'time']);
        assert.equal(event.severity, 'info');
        assert.equal(event.time, new Date(h.now()).toISOString());
        assert.match(event.message, /domain bobs created by bob/);

        assert.deepEqual(await kinds(h, carol.token), ['domain.created']);
        assert.deepEqual(await kinds(h, h.admin.token), ['user.created', 'user.created', 'domain.created', 'domain.created', 'district.created']);
      }));

    it('pages with the after cursor and limit, and filters by kind', () =>
      withBroker(dialect, async (h) => {
        const bob = await h.createUser('bob');
        for (const name of ['one', 'two', 'three']) await h.createDomain(bob, name);
        await h.call('DELETE', '/domains/two', { token: bob.token });

        const all = (await h.ok('GET', '/events', { token: bob.token })).items;
        assert.deepEqual(all.map((event: { subject: string }) => event.subject), ['domain:one', 'domain:two', 'domain:three', 'domain:two']);
        const ids = all.map((event: { id: number }) => event.id);
        assert.deepEqual([...ids].sort((a, b) => a - b), ids, 'oldest first');

        const afterSecond = await h.ok('GET', `/events?after=${ids[1]}`, { token: bob.token });
        assert.deepEqual(afterSecond.items.map((event: { id: number }) => event.id), ids.slice(2));
        const firstTwo = await h.ok('GET', '/events?limit=2', { token: bob.token });
        assert.deepEqual(firstTwo.items.map((event: { id: number }) => event.id), ids.slice(0, 2));
        assert.deepEqual(await kinds(h, bob.token, `?after=${ids[3]}`), []);
        assert.deepEqual(await kinds(h, bob.token, '?kind=domain.deleted'), ['domain.deleted']);
        assert.deepEqual(await kinds(h, h.admin.token, '?kind=user.created'), ['user.created']);
      }));

    it('follows events as Server-Sent Events: an event recorded after connecting arrives; Last-Event-ID resumes', () =>
      withBroker(
        dialect,
        async (h) => {
          assert.match(h.broker.url, /^http:\/\/127\.0\.0\.1:\d+$/);
          const bob = await h.createUser('bob');
          const carol = await h.createUser('carol');
          await h.createDomain(bob, 'early');

          const stream = await EventStream.open(h.broker.url, bob.token, '');
          try {
            assert.equal(stream.response.statusCode, 200);
            assert.match(String(stream.response.headers['content-type']), /^text\/event-stream/);
            await stream.waitFor((events) => events.length === 1);
            assert.equal(stream.events[0]!.data.subject, 'domain:early', 'the backlog comes first');

            await h.createDomain(carol, 'carols'); // not bob's: never on his stream
            await h.createDomain(bob, 'live');
            await stream.waitFor((events) => events.some((event) => event.data.subject === 'domain:live'));
            const live = stream.events.at(-1)!;
            assert.equal(live.event, 'domain.created');
            assert.equal(live.id, String(live.data.id));
            assert.deepEqual(stream.events.map((event) => event.data.subject), ['domain:early', 'domain:live']);
          } finally {
            stream.end();
          }

          const lastSeen = stream.events.at(-1)!.id;
          await h.createDomain(bob, 'missed');
          const resumed = await EventStream.open(h.broker.url, bob.token, '', { 'last-event-id': lastSeen });
          try {
            await resumed.waitFor((events) => events.length >= 1);
            await h.createDomain(bob, 'later');
            await resumed.waitFor((events) => events.length >= 2);
            assert.deepEqual(resumed.events.map((event) => event.data.subject), ['domain:missed', 'domain:later']);
          } finally {
            resumed.end();
          }
        },
        { listen: true },
      ));

    it('refuses a malformed Last-Event-ID', () =>
      withBroker(dialect, async (h) => {
        assertApiError(await h.call('GET', '/events?follow=true', { token: h.admin.token, headers: { 'last-event-id': 'abc' } }), { status: 400, field: 'Last-Event-ID' });
      }));
  });
}
