// The embedded store's statement cache: a SQL text is prepared once and its statement reused,
// the least recently used text is dropped past the limit, and reuse gives the right answers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import BetterSqlite3 from 'better-sqlite3';

import { CachedStatements } from '../../src/store/sqlite-connection.ts';

function database(): BetterSqlite3.Database {
  const db = new BetterSqlite3(':memory:');
  db.exec('create table t (id integer primary key, name text not null)');
  return db;
}

describe('CachedStatements', () => {
  test('the same SQL text gets the same prepared statement, and it answers each call with its own parameters', () => {
    const cache = new CachedStatements(database());
    const insert = cache.prepare('insert into t (name) values (?)');
    assert.equal(cache.prepare('insert into t (name) values (?)'), insert);
    insert.run(['a']);
    cache.prepare('insert into t (name) values (?)').run(['b']);
    const select = cache.prepare('select name from t where name = ?');
    assert.deepEqual(select.all(['a']), [{ name: 'a' }]);
    assert.deepEqual(cache.prepare('select name from t where name = ?').all(['b']), [{ name: 'b' }]);
    assert.equal(cache.size, 2);
    cache.close();
  });

  test('past its size it drops the least recently used text, not the one just used', () => {
    const cache = new CachedStatements(database(), 2);
    const first = cache.prepare('select 1');
    const second = cache.prepare('select 2');
    assert.equal(cache.prepare('select 1'), first, 'used again: now the most recent');
    cache.prepare('select 3');
    assert.equal(cache.size, 2);
    assert.equal(cache.prepare('select 1'), first, 'kept');
    assert.notEqual(cache.prepare('select 2'), second, 'dropped, so prepared anew');
  });

  test('a statement prepared before a schema change still runs after it', () => {
    const db = database();
    const cache = new CachedStatements(db);
    const select = cache.prepare('select * from t');
    db.exec('alter table t add column extra text');
    db.exec("insert into t (name, extra) values ('x', 'y')");
    assert.deepEqual(cache.prepare('select * from t').all([]), [{ id: 1, name: 'x', extra: 'y' }]);
    assert.equal(cache.prepare('select * from t'), select);
    cache.close();
  });
});
