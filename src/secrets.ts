// Secrets: slow hashes for passwords and tokens, a short fast digest to find a token's
// user in O(1), and constant-time comparison. Nothing here logs or returns a secret.

import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import bcrypt from 'bcryptjs';

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 } as const;

function scryptAsync(secret: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** `$scrypt$N=16384,r=8,p=1$<salt>$<hash>` (base64url); runs on libuv's pool, not the event loop. */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(secret, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: 64 * 1024 * 1024 });
  return `$scrypt$N=${SCRYPT.N},r=${SCRYPT.r},p=${SCRYPT.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

const SCRYPT_FORMAT = /^\$scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/;

/** Verifies against our scrypt hashes and the bcrypt hashes of an imported Nebula 2.x database. */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const m = SCRYPT_FORMAT.exec(stored);
  if (m) {
    const [, n, r, p, salt, hash] = m as unknown as [string, string, string, string, string, string];
    const expected = Buffer.from(hash, 'base64url');
    const [N, R, P] = [Number(n), Number(r), Number(p)];
    // Stored parameters are bounded (at most 64 MiB of work memory); anything else is no match.
    if (N * R > 1 << 19 || P > 16 || expected.length < 16) return false;
    try {
      const key = await scryptAsync(secret, Buffer.from(salt, 'base64url'), expected.length, {
        N,
        r: R,
        p: P,
        maxmem: 256 * N * R + 1024 * 1024,
      });
      return timingSafeEqual(key, expected);
    } catch {
      return false; // parameters scrypt refuses (N not a power of two, r = 0, ...)
    }
  }
  if (/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(stored)) {
    return bcrypt.compare(secret, stored);
  }
  return false;
}

/**
 * A 24-bit digest of a token, indexed by the store: it narrows a bearer token to about one
 * candidate user among millions, while leaking too little to test guesses of a weak,
 * admin-chosen token offline (the slow hash still decides).
 */
export function tokenLookup(token: string): string {
  return createHash('sha256').update(`nebula-token-lookup:${token}`).digest('hex').slice(0, 6);
}

/** A full digest, for keys of in-memory caches of verified credentials. */
export function digest(...parts: string[]): string {
  const h = createHash('sha256');
  for (const part of parts) h.update(`${part.length}:${part}`);
  return h.digest('base64url');
}

/** Constant-time equality of two strings of any length. */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/** 256 random bits, URL-safe (43 characters, like the original's token_urlsafe). */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}
