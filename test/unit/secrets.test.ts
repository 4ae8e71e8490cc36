// Secrets: slow hashes (scrypt; bcrypt from Nebula 2.x), the token digest, constant-time equality.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import bcrypt from 'bcryptjs';
import { generateSecret, hashSecret, safeEqual, tokenLookup, verifySecret } from '../../src/secrets.ts';

describe('hashSecret / verifySecret', () => {
  test('scrypt round trip, salted', async () => {
    const hash = await hashSecret('correct horse');
    assert.match(hash, /^\$scrypt\$N=16384,r=8,p=1\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/);
    assert.equal(hash.includes('correct horse'), false);
    assert.equal(await verifySecret('correct horse', hash), true);
    assert.equal(await verifySecret('correct horse!', hash), false);
    assert.equal(await verifySecret('', hash), false);
    assert.notEqual(await hashSecret('correct horse'), hash, 'a fresh salt each time');
  });

  test('an empty and a unicode secret round trip', async () => {
    for (const secret of ['', 'pässwörd ✓']) assert.equal(await verifySecret(secret, await hashSecret(secret)), true);
  });

  test('bcrypt hashes from bcryptjs (cost 4) verify, $2a/$2b/$2y', async () => {
    const hash = bcrypt.hashSync('legacy-token', 4);
    assert.match(hash, /^\$2[aby]\$04\$/);
    // Python's bcrypt writes $2b$, older tools $2a$ or $2y$: the same algorithm.
    for (const prefix of ['$2a$', '$2b$', '$2y$']) {
      const stored = prefix + hash.slice(4);
      assert.equal(await verifySecret('legacy-token', stored), true, stored);
      assert.equal(await verifySecret('legacy-tokeN', stored), false, stored);
    }
  });

  test('garbage stored hashes are false, never a throw', async () => {
    const good = await hashSecret('s');
    const [, , params, salt] = good.split('$');
    const garbage = [
      '',
      's',
      'plaintext',
      '$2b$04$short',
      '$scrypt$',
      '$scrypt$N=16384,r=8,p=1$$',
      `$scrypt$N=16384,r=8,p=1$${salt}$`,
      `$scrypt$N=16384,r=8,p=1$${salt}$AAAA`, // a key too short to mean anything
      `$scrypt$N=${2 ** 24},r=8,p=1$${salt}$${'A'.repeat(43)}`, // too costly to try
      `$scrypt$${params}$${salt}$${'A'.repeat(43)}`, // well-formed, wrong key
      good.replace('$scrypt$', '$scrypt2$'),
    ];
    for (const stored of garbage) assert.equal(await verifySecret('s', stored), false, stored);
  });
  // BUG (reported): scrypt throws synchronously on parameters it cannot use (N not a power
  // of two, N=1, r=0...), and verifySecret lets that become a rejection instead of `false`.
  test('a stored scrypt hash with impossible parameters is false, not a rejection', async () => {
    const key = 'A'.repeat(43);
    for (const params of ['N=3,r=8,p=1', 'N=0,r=8,p=1', 'N=1,r=1,p=1', 'N=16384,r=0,p=1']) {
      const stored = `$scrypt$${params}$c2FsdHNhbHQ$${key}`;
      assert.equal(await verifySecret('s', stored).catch((err: Error) => `rejected: ${err.message}`), false, stored);
    }
  });
});

describe('tokenLookup', () => {
  test('stable, 6 hex digits, differs between tokens', () => {
    const a = tokenLookup('token-a');
    assert.match(a, /^[0-9a-f]{6}$/);
    assert.equal(tokenLookup('token-a'), a);
    assert.notEqual(tokenLookup('token-b'), a);
    assert.match(tokenLookup(''), /^[0-9a-f]{6}$/);
  });
});

describe('safeEqual', () => {
  test('equal and unequal strings of any length', () => {
    assert.equal(safeEqual('abc', 'abc'), true);
    assert.equal(safeEqual('', ''), true);
    assert.equal(safeEqual('abc', 'abd'), false);
    assert.equal(safeEqual('abc', 'abcd'), false);
    assert.equal(safeEqual('', 'a'), false);
    assert.equal(safeEqual('x'.repeat(10_000), 'x'.repeat(10_000)), true);
  });

  test('unequal lengths, unicode and NUL: correct answers, never a throw', () => {
    const values = ['', 'a', 'ab', 'a\u0000', 'pässwörd', 'passwörd', 'x'.repeat(1024), 'x'.repeat(1025)];
    for (const a of values) for (const b of values) assert.equal(safeEqual(a, b), a === b, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  });

  // The comparison itself is crypto.timingSafeEqual, always on two equal-length digests (it
  // throws on unequal lengths): spied on through node:crypto's live ESM bindings.
  test('compares with crypto.timingSafeEqual on two 32-byte digests, whatever the lengths', (t) => {
    const spy = t.mock.method(crypto, 'timingSafeEqual');
    syncBuiltinESMExports();
    t.after(() => {
      spy.mock.restore();
      syncBuiltinESMExports();
    });
    for (const [a, b] of [['short', 'a much longer secret'], ['same', 'same'], ['', 'x'.repeat(5000)]] as const) {
      const before = spy.mock.callCount();
      assert.equal(safeEqual(a, b), a === b);
      assert.equal(spy.mock.callCount(), before + 1, `one timingSafeEqual call for ${a.length} vs ${b.length} characters`);
      const [x, y] = spy.mock.calls.at(-1)!.arguments as unknown as [Buffer, Buffer];
      assert.equal(x.length, 32);
      assert.equal(y.length, 32);
    }
  });
});

describe('verifySecret compares in constant time', () => {
  test('crypto.timingSafeEqual on the derived and stored scrypt keys, of equal length', async (t) => {
    const stored = await hashSecret('right');
    const spy = t.mock.method(crypto, 'timingSafeEqual');
    syncBuiltinESMExports();
    t.after(() => {
      spy.mock.restore();
      syncBuiltinESMExports();
    });
    assert.equal(await verifySecret('wrong but longer', stored), false);
    assert.equal(await verifySecret('right', stored), true);
    assert.equal(spy.mock.callCount(), 2);
    for (const call of spy.mock.calls) {
      const [x, y] = call.arguments as unknown as [Buffer, Buffer];
      assert.equal(x.length, y.length);
      assert.equal(x.length, 32);
    }
  });
});

describe('generateSecret', () => {
  test('43 URL-safe characters, different each time', () => {
    const s = generateSecret();
    assert.match(s, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(generateSecret(), s);
  });
});
