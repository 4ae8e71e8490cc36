// The engine adapter: the only file that speaks dockerode. Everything it returns is plain
// data; everything it is given is a ContainerSpec (src/diff/containers.ts).

import Docker from 'dockerode';
import { LABELS, type ContainerSpec } from '../../src/diff/containers.ts';

export interface RegistryAuth {
  username: string;
  password: string;
  serveraddress: string;
}

export interface EngineContainer {
  id: string;
  name: string;
  labels: Record<string, string>;
  /** created, running, paused, restarting, removing, exited, dead */
  state: string;
}

export interface ContainerHealth {
  running: boolean;
  restarting: boolean;
  paused: boolean;
  dead: boolean;
  /** healthy, unhealthy, starting, or none when there is no health check. */
  health: string;
  startedAt: string;
  lastHealthOutput: string;
  /** Restarts the engine made under the container's restart policy. */
  restartCount: number;
}

/** The engine could not be reached (socket gone, daemon down). */
export class EngineUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EngineUnavailableError';
  }
}

function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'ECONNRESET' || code === 'EPIPE';
}

/** "nginx" → "nginx:latest"; "repo/x:1", "x@sha256:…" stay. Docker pulls every tag of an untagged name. */
export function withTag(image: string): string {
  if (image.includes('@')) return image;
  const last = image.slice(image.lastIndexOf('/') + 1);
  return last.includes(':') ? image : `${image}:latest`;
}

/** The registry an image comes from: its first path part when that looks like a host. */
export function registryOf(image: string): string {
  const slash = image.indexOf('/');
  if (slash < 0) return 'index.docker.io';
  const first = image.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first.toLowerCase() : 'index.docker.io';
}

export class Engine {
  private readonly docker: Docker;
  private readonly socketPath: string;

  private constructor(docker: Docker, socketPath: string) {
    this.docker = docker;
    this.socketPath = socketPath;
  }

  /** Connects and negotiates the API version with the daemon (never above what it speaks). */
  static async connect(socketPath: string): Promise<{ engine: Engine; apiVersion: string; version: string }> {
    const probe = new Docker({ socketPath });
    const info = await Engine.call(() => probe.version());
    const docker = new Docker({ socketPath, version: `v${info.ApiVersion}` });
    return { engine: new Engine(docker, socketPath), apiVersion: info.ApiVersion, version: info.Version };
  }

  private static async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isConnectionError(err)) throw new EngineUnavailableError(`the Docker engine is unreachable: ${(err as Error).message}`, { cause: err });
      throw err;
    }
  }

  get socket(): string {
    return this.socketPath;
  }

  async ping(): Promise<void> {
    await Engine.call(() => this.docker.ping());
  }

  /** Containers labelled orchestrator=nebula (of one type), running or not. */
  async listNebula(type: 'app' | 'cron_job'): Promise<EngineContainer[]> {
    const list = await Engine.call(() =>
      this.docker.listContainers({ all: true, filters: { label: [`${LABELS.orchestrator}=nebula`, `${LABELS.type}=${type}`] } }),
    );
    return list.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      labels: c.Labels ?? {},
      state: c.State,
    }));
  }

  async imageExists(image: string): Promise<boolean> {
    try {
      await Engine.call(() => this.docker.getImage(withTag(image)).inspect());
      return true;
    } catch (err) {
      if (err instanceof EngineUnavailableError) throw err;
      return false;
    }
  }

  async pull(image: string, auth: RegistryAuth | undefined): Promise<void> {
    const stream = await Engine.call(() => this.docker.pull(withTag(image), auth ? { authconfig: auth } : {}));
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(stream, (err: Error | null, output: { error?: string }[]) => {
        const failed = err ?? output.find((o) => o.error);
        if (failed) reject(failed instanceof Error ? failed : new Error(failed.error));
        else resolve();
      });
    });
  }

  async networkExists(name: string): Promise<boolean> {
    const networks = await Engine.call(() => this.docker.listNetworks({ filters: { name: [name] } }));
    return networks.some((n) => n.Name === name);
  }

  async ensureNetwork(name: string): Promise<void> {
    if (await this.networkExists(name)) return;
    try {
      await Engine.call(() => this.docker.createNetwork({ Name: name, Driver: 'bridge', CheckDuplicate: true }));
    } catch (err) {
      // Another process created it meanwhile: fine.
      if (!(await this.networkExists(name))) throw err;
    }
  }

  /** Creates and starts a container; returns its id. On a failure after create, removes it. */
  async run(spec: ContainerSpec): Promise<string> {
    const exposed: Record<string, object> = {};
    const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
    for (const p of spec.ports) {
      const key = `${p.containerPort}/tcp`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: '', HostPort: String(p.hostPort) });
    }
    const container = await Engine.call(() =>
      this.docker.createContainer({
        name: spec.name,
        Image: withTag(spec.image),
        Env: spec.env,
        Labels: spec.labels,
        ExposedPorts: exposed,
        HostConfig: {
          PortBindings: bindings,
          Binds: spec.binds,
          Devices: spec.devices,
          Privileged: spec.privileged,
          NetworkMode: spec.networkMode,
          RestartPolicy: { Name: spec.restartPolicy },
        },
      }),
    );
    try {
      for (const network of spec.connect) {
        await Engine.call(() => this.docker.getNetwork(network).connect({ Container: container.id }));
      }
      await Engine.call(() => container.start());
    } catch (err) {
      await this.remove(container.id).catch(() => undefined);
      throw err;
    }
    return container.id;
  }

  async start(id: string): Promise<void> {
    await Engine.call(() => this.docker.getContainer(id).start());
  }

  /** Stops (5 s grace, then kill) and removes; a container already gone is fine. */
  async remove(id: string): Promise<void> {
    const container = this.docker.getContainer(id);
    try {
      await Engine.call(() => container.stop({ t: 5 }));
    } catch (err) {
      if (err instanceof EngineUnavailableError) throw err;
      // Already stopped, or gone: the forced remove below settles it.
    }
    try {
      await Engine.call(() => container.remove({ force: true, v: false }));
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return;
      throw err;
    }
  }

  async restart(id: string): Promise<void> {
    await Engine.call(() => this.docker.getContainer(id).restart({ t: 2 }));
  }

  async health(id: string): Promise<ContainerHealth> {
    const info = await Engine.call(() => this.docker.getContainer(id).inspect());
    const log = info.State.Health?.Log ?? [];
    return {
      running: info.State.Running,
      restarting: info.State.Restarting,
      paused: info.State.Paused,
      dead: info.State.Dead,
      health: info.State.Health?.Status ?? 'none',
      startedAt: info.State.StartedAt,
      lastHealthOutput: (log.at(-1)?.Output ?? '').trim().slice(0, 500),
      restartCount: info.RestartCount ?? 0,
    };
  }

  /** The engine's raw stats object of a container, one sample (what reports carry); null if it is gone. */
  async stats(id: string): Promise<Record<string, unknown> | null> {
    try {
      return (await Engine.call(() => this.docker.getContainer(id).stats({ stream: false, 'one-shot': true } as { stream: false }))) as unknown as Record<string, unknown>;
    } catch (err) {
      if (err instanceof EngineUnavailableError) throw err;
      return null; // removed meanwhile
    }
  }

  /** Removes every image no container uses (not only dangling ones), as the original's fixed prune. */
  async pruneImages(): Promise<number> {
    const result = await Engine.call(() => this.docker.pruneImages({ filters: { dangling: { false: true } } }));
    return (result.ImagesDeleted ?? []).length;
  }
}
