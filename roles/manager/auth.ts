// Authentication: basic and bearer, against the config admin and the store's users.
// Runs before any cache and before the body is read. Secrets are compared in constant
// time and verified by slow hashes; a small cache of already-verified credentials keys on
// a full digest of the secret *and* the stored hash, so a changed password or a refreshed
// token is never served from it.
//
// The hot path (a device polling /info many times a minute with the same header) is O(1):
// the SHA-256 of the exact Authorization header is looked up among the headers that
// authenticated in the last minute. Every request is still checked — a different header is a
// different digest — and nothing the store says is served stale: any change to the admin data
// (users, their groups, passwords, tokens; through this manager or, via the change watcher,
// another) empties that cache before the change is acknowledged.

import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { digest, safeEqual, tokenLookup, verifySecret } from '../../src/secrets.ts';
import type { Store } from '../../src/store/types.ts';
import type { UserRecord } from '../../src/model/user.ts';
import { mergePermissions, type Principal } from './rbac.ts';
import { AuthThrottledError, type AuthThrottle } from './overload.ts';

export interface AuthConfig {
  authEnabled: boolean;
  basicAuthUser?: string;
  basicAuthPassword?: string;
  authToken?: string;
}

export type Credentials =
  | { scheme: 'basic'; user: string; password: string }
  | { scheme: 'bearer'; token: string }
  | { scheme: 'none' }
  | { scheme: 'invalid' };

export function parseAuthorization(header: string | undefined): Credentials {
  if (header === undefined || header.trim() === '') return { scheme: 'none' };
  const match = /^\s*(\S+)\s+(\S+)\s*$/.exec(header);
  if (!match) return { scheme: 'invalid' };
  const [, scheme, value] = match as unknown as [string, string, string];
  if (scheme.toLowerCase() === 'bearer') return { scheme: 'bearer', token: value };
  if (scheme.toLowerCase() !== 'basic') return { scheme: 'invalid' };
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return { scheme: 'invalid' };
  return { scheme: 'basic', user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

const ANONYMOUS: Principal = Object.freeze({ type: 'admin', name: 'anonymous' }) as Principal;

/** Longest Authorization header the hot-path cache keys (anything longer takes the full path). */
const MAX_CACHED_HEADER = 4096;

export class Authenticator {
  private readonly config: AuthConfig;
  private readonly store: Store;
  private readonly verified = new LRUCache<string, true>({ max: 10_000, ttl: 10 * 60_000 });
  /** SHA-256 of an Authorization header -> whom it authenticated, for a minute at most. */
  private readonly principals = new LRUCache<string, Principal>({ max: 100_000, ttl: 60_000 });
  /** Moves on every change to the admin data: a lookup that began before it is not cached. */
  private generation = 0;
  private readonly recordTokenLookups: boolean;
  private readonly throttle: AuthThrottle | undefined;

  /**
   * recordTokenLookups false (edge managers): never write to the admin data, even this digest.
   * throttle: failed authentications per client address (429 past its limit).
   */
  constructor(config: AuthConfig, store: Store, options: { recordTokenLookups?: boolean; throttle?: AuthThrottle } = {}) {
    this.config = config;
    this.store = store;
    this.recordTokenLookups = options.recordTokenLookups ?? true;
    this.throttle = options.throttle;
  }

  /**
   * Whom exactly this Authorization header authenticated within the last minute, with no change
   * to the admin data since; undefined: ask authenticate(). Synchronous, one digest, no store.
   */
  cached(header: string | undefined): Principal | undefined {
    if (!this.config.authEnabled) return ANONYMOUS;
    if (header === undefined || header.length > MAX_CACHED_HEADER) return undefined;
    return this.principals.get(hash('sha256', header, 'base64url'));
  }

  /**
   * The caller, or null when the credentials do not authenticate. Given the raw `header` the
   * credentials came from, a success is remembered for cached(). From an `address` that failed
   * too often (the throttle), only credentials already known good are checked; anything else
   * throws AuthThrottledError (429) — before any slow hash, and whether or not the user exists.
   */
  async authenticate(credentials: Credentials, header?: string, address?: string): Promise<Principal | null> {
    if (!this.config.authEnabled) return ANONYMOUS;
    const generation = this.generation;
    const blockedFor = this.throttle?.blockedFor(address);
    let principal: Principal | null;
    switch (credentials.scheme) {
      case 'basic':
        principal = await this.basic(credentials.user, credentials.password, blockedFor);
        break;
      case 'bearer':
        principal = await this.bearer(credentials.token, blockedFor);
        break;
      default:
        principal = null;
    }
    if (principal === null) {
      // No (or unreadable) credentials are not a guess: only wrong ones count.
      const guess = credentials.scheme === 'basic' || credentials.scheme === 'bearer';
      if (guess && blockedFor !== undefined) throw new AuthThrottledError(blockedFor);
      if (guess) this.throttle?.failed(address);
      return null;
    }
    if (header !== undefined && header.length <= MAX_CACHED_HEADER && generation === this.generation) {
      this.principals.set(hash('sha256', header, 'base64url'), principal);
    }
    return principal;
  }

  /** The admin data changed (a user, a group, a password, a token): forget who was who. */
  changed(): void {
    this.generation++;
    this.principals.clear();
  }

  private async basic(user: string, password: string, blockedFor: number | undefined): Promise<Principal | null> {
    const { basicAuthUser, basicAuthPassword } = this.config;
    if (basicAuthUser !== undefined && basicAuthPassword !== undefined) {
      // Both compared, always, so the timing does not tell which one was wrong.
      const userOk = safeEqual(user, basicAuthUser);
      const passwordOk = safeEqual(password, basicAuthPassword);
      if (userOk && passwordOk) return { type: 'admin', name: user };
    }
    const record = await this.store.get('users', user);
    if (!record || !(await this.check(password, record.password, blockedFor))) return null;
    return this.principalOf(record);
  }

  private async bearer(token: string, blockedFor: number | undefined): Promise<Principal | null> {
    if (this.config.authToken !== undefined && safeEqual(token, this.config.authToken)) {
      return { type: 'admin', name: 'auth_token' };
    }
    for (const record of await this.store.usersByTokenLookup(tokenLookup(token))) {
      if (await this.check(token, record.token, blockedFor)) return this.principalOf(record);
    }
    // Trying the imported users is a slow hash each: not for an address that keeps failing.
    if (blockedFor !== undefined) return null;
    // Users imported from Nebula 2.x have only a bcrypt hash of their token: try them once,
    // then record the digest so the next request finds the user in O(1).
    for (const record of await this.store.usersWithoutTokenLookup()) {
      if (await this.check(token, record.token)) {
        if (this.recordTokenLookups) await this.store.setTokenLookup(record.user_name, tokenLookup(token));
        return this.principalOf(record);
      }
    }
    return null;
  }

  /** Is `secret` the one `storedHash` was made from? Known-good pairs skip the slow hash; blocked callers get no slow hash. */
  private async check(secret: string, storedHash: string, blockedFor?: number): Promise<boolean> {
    const key = digest(storedHash, secret);
    if (this.verified.get(key)) return true;
    if (blockedFor !== undefined) throw new AuthThrottledError(blockedFor);
    const ok = await verifySecret(secret, storedHash);
    if (ok) this.verified.set(key, true);
    return ok;
  }

  private async principalOf(record: UserRecord): Promise<Principal> {
    const groups = await this.store.groupsOf(record.user_name);
    return { type: 'user', name: record.user_name, permissions: mergePermissions(groups) };
  }
}
