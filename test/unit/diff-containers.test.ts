// How an app becomes containers (src/diff/containers.ts): counts, names, ports, devices,
// environment, networks and the labelled specs handed to the engine adapter.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  appContainerSpec,
  configHash,
  containerName,
  containersRequired,
  cronContainerSpec,
  deviceMapping,
  envList,
  indexOf,
  networkPlan,
  portBindings,
} from '../../src/diff/containers.ts';
import { app, cron } from '../helpers/diff-builders.ts';

describe('containersRequired', () => {
  const h = { cpuCores: 3, memoryMb: 4096 };

  test('server, instance, cpu, memory and mem', () => {
    assert.deepEqual(containersRequired({ server: 4 }, h), { ok: true, count: 4 });
    assert.deepEqual(containersRequired({ instance: 2 }, h), { ok: true, count: 2 });
    assert.deepEqual(containersRequired({ cpu: 0.5 }, h), { ok: true, count: 1 });
    assert.deepEqual(containersRequired({ cpu: 2 }, h), { ok: true, count: 6 });
    assert.deepEqual(containersRequired({ memory: 1000 }, h), { ok: true, count: 4 });
    assert.deepEqual(containersRequired({ mem: 2048 }, h), { ok: true, count: 2 });
  });

  test('an unknown key or an invalid value is a reason, never a throw', () => {
    for (const value of [{ gpu: 1 }, { server: 0 }, { cpu: -0.5 }, { server: '2' }, { server: Infinity }, {}, { server: 1, cpu: 1 }, [], null, 3]) {
      const count = containersRequired(value, h);
      assert.equal(count.ok, false, JSON.stringify(value));
      assert.ok(!count.ok && count.reason.length > 0);
    }
  });
});

describe('names', () => {
  test('containerName is <app>-<n>', () => {
    assert.equal(containerName('web', 2), 'web-2');
  });

  test('indexOf reads n from <app>-<n> and nothing else', () => {
    assert.equal(indexOf('web', 'web-2'), 2);
    assert.equal(indexOf('web', '/web-2'), 2);
    assert.equal(indexOf('web', 'web-10'), 10);
    assert.equal(indexOf('web', 'web-x'), 0);
    assert.equal(indexOf('web', 'webby-2'), 0);
    assert.equal(indexOf('web', 'web-02'), 0);
    assert.equal(indexOf('web', 'web-0'), 0);
    assert.equal(indexOf('web', 'web'), 0);
    assert.equal(indexOf('web', 'web-'), 0);
    assert.equal(indexOf('web', 'web-2-1'), 0);
    assert.equal(indexOf('web-api', 'web-api-3'), 3);
    assert.equal(indexOf('web', 'web-api-3'), 0);
  });
});

describe('portBindings', () => {
  test('an int p maps host p + n - 1 to container p', () => {
    assert.deepEqual(portBindings([80], 1), [{ hostPort: 80, containerPort: 80 }]);
    assert.deepEqual(portBindings([80, 443], 3), [
      { hostPort: 82, containerPort: 80 },
      { hostPort: 445, containerPort: 443 },
    ]);
  });

  test('{"81": "80"} with 3 containers: 81, 82, 83 → 80', () => {
    assert.deepEqual(
      [1, 2, 3].map((n) => portBindings([{ '81': '80' }], n)),
      [[{ hostPort: 81, containerPort: 80 }], [{ hostPort: 82, containerPort: 80 }], [{ hostPort: 83, containerPort: 80 }]],
    );
  });

  test('a mixed list, numbers given as numbers or strings', () => {
    assert.deepEqual(portBindings([8080, { '9000': 90, '9100': '91' }], 2), [
      { hostPort: 8081, containerPort: 8080 },
      { hostPort: 9001, containerPort: 90 },
      { hostPort: 9101, containerPort: 91 },
    ]);
  });

  test('no ports, no bindings', () => {
    assert.deepEqual(portBindings([], 4), []);
  });
});

describe('deviceMapping', () => {
  test('host[:container[:permissions]]', () => {
    assert.deepEqual(deviceMapping('/dev/ttyUSB0'), { PathOnHost: '/dev/ttyUSB0', PathInContainer: '/dev/ttyUSB0', CgroupPermissions: 'rwm' });
    assert.deepEqual(deviceMapping('/dev/ttyUSB0:/dev/modem'), {
      PathOnHost: '/dev/ttyUSB0',
      PathInContainer: '/dev/modem',
      CgroupPermissions: 'rwm',
    });
    assert.deepEqual(deviceMapping('/dev/snd:/dev/snd:r'), { PathOnHost: '/dev/snd', PathInContainer: '/dev/snd', CgroupPermissions: 'r' });
  });
});

describe('envList', () => {
  test('an object becomes NAME=value lines; [] (the original update default) becomes none', () => {
    assert.deepEqual(envList({ A: 'x', N: 3, B: true, EMPTY: '' }), ['A=x', 'N=3', 'B=true', 'EMPTY=']);
    assert.deepEqual(envList({ URL: 'a=b' }), ['URL=a=b']);
    assert.deepEqual(envList([]), []);
  });
});

describe('networkPlan', () => {
  test('host and none stand alone; anything else is created on nebula and connected to the rest', () => {
    assert.deepEqual(networkPlan(['host']), { mode: 'host', connect: [] });
    assert.deepEqual(networkPlan(['none']), { mode: 'none', connect: [] });
    assert.deepEqual(networkPlan([]), { mode: 'nebula', connect: [] });
    assert.deepEqual(networkPlan(['bridge']), { mode: 'nebula', connect: ['bridge'] });
    assert.deepEqual(networkPlan(['nebula']), { mode: 'nebula', connect: [] });
    assert.deepEqual(networkPlan(['nebula', 'bridge', 'custom']), { mode: 'nebula', connect: ['bridge', 'custom'] });
  });
});

describe('container specs', () => {
  test('an app container: name, labels, ports of its index, unless-stopped', () => {
    const web = app('web', {
      app_id: 7,
      starting_ports: [80, { '81': '8081' }],
      env_vars: { MODE: 'prod' },
      volumes: ['/data:/data:ro'],
      devices: ['/dev/ttyUSB0'],
      privileged: true,
      networks: ['nebula', 'bridge'],
    });
    assert.deepEqual(appContainerSpec(web, 2), {
      name: 'web-2',
      image: 'registry.local/web:1',
      env: ['MODE=prod'],
      labels: { orchestrator: 'nebula', app_name: 'web', container_type: 'app', 'nebula.app_id': '7', 'nebula.index': '2', 'nebula.config': configHash(web) },
      ports: [
        { hostPort: 81, containerPort: 80 },
        { hostPort: 82, containerPort: 8081 },
      ],
      binds: ['/data:/data:ro'],
      devices: [{ PathOnHost: '/dev/ttyUSB0', PathInContainer: '/dev/ttyUSB0', CgroupPermissions: 'rwm' }],
      privileged: true,
      networkMode: 'nebula',
      connect: ['bridge'],
      restartPolicy: 'unless-stopped',
    });
  });

  test('an app on the host network', () => {
    const spec = appContainerSpec(app('edge', { networks: ['host'] }), 1);
    assert.equal(spec.networkMode, 'host');
    assert.deepEqual(spec.connect, []);
  });

  test('a cron container: <job>-<epoch>-1, no ports, no restart policy', () => {
    const job = cron('backup', { cron_job_id: 4, env_vars: { KEEP: 7 }, networks: ['none'] });
    assert.deepEqual(cronContainerSpec(job, 1_700_000_000), {
      name: 'backup-1700000000-1',
      image: 'registry.local/backup:1',
      env: ['KEEP=7'],
      labels: { orchestrator: 'nebula', cron_job_name: 'backup', container_type: 'cron_job', 'nebula.cron_job_id': '4' },
      ports: [],
      binds: [],
      devices: [],
      privileged: false,
      networkMode: 'none',
      connect: [],
      restartPolicy: 'no',
    });
  });
});
