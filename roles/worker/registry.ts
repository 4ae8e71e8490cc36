// Registry credentials for pulls: the configured REGISTRY_* pair for its registry, and
// ~/.docker/config.json (or $DOCKER_CONFIG/config.json) for any number of others.

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { registryHostOf, type RegistryCredentials } from '../../src/config/worker.ts';
import { registryOf, type RegistryAuth } from './engine.ts';

export class RegistryAuths {
  private readonly byHost = new Map<string, RegistryAuth>();

  constructor(configured: RegistryCredentials | null, dockerConfig: Record<string, unknown> | null) {
    const auths = (dockerConfig?.auths ?? {}) as Record<string, { auth?: string; username?: string; password?: string }>;
    for (const [server, entry] of Object.entries(auths)) {
      let username = entry.username;
      let password = entry.password;
      if (entry.auth) {
        const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon > 0) [username, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
      }
      if (username && password) this.byHost.set(normalize(registryHostOf(server)), { username, password, serveraddress: server });
    }
    if (configured) {
      this.byHost.set(normalize(configured.host), { username: configured.username, password: configured.password, serveraddress: configured.host });
    }
  }

  /** Reads the standard Docker client config, if there is one. */
  static load(configured: RegistryCredentials | null, env: NodeJS.ProcessEnv = process.env): RegistryAuths {
    const path = join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
    let dockerConfig: Record<string, unknown> | null = null;
    try {
      dockerConfig = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    } catch {
      dockerConfig = null; // none, or unreadable: pulls go without credentials
    }
    return new RegistryAuths(configured, dockerConfig);
  }

  for(image: string): RegistryAuth | undefined {
    return this.byHost.get(normalize(registryOf(image)));
  }
}

/** Docker Hub has several names. */
function normalize(host: string): string {
  return ['docker.io', 'registry-1.docker.io', 'registry.hub.docker.com', 'index.docker.io'].includes(host) ? 'index.docker.io' : host;
}
