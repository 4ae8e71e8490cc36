// TLS: the manager serves HTTPS when given a certificate and key; the worker's client verifies
// the manager's certificate, against a CA it is given (--manager-ca-file) or the system's, and
// never talks to a manager it cannot verify. With a CA made for the run (test/helpers/tls.ts).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { ADMIN_TOKEN, startManager, type TestManager } from '../helpers/manager.ts';
import { makeTestCa, type TestCa } from '../helpers/tls.ts';
import { ManagerClient, ManagerUnavailableError } from '../../src/client/manager.ts';
import { loadManagerConfig } from '../../src/config/manager.ts';
import { loadWorkerConfig } from '../../src/config/worker.ts';
import { ConfigError } from '../../src/errors.ts';
import { freePort, spawnManager, stopProcess } from '../helpers/process.ts';
import { tempDir } from '../helpers/worker.ts';

let ca: TestCa;
let other: TestCa;
/** A certificate for nebula.example.com only: valid, but not for 127.0.0.1. */
let renamedCa: TestCa;
let m: TestManager;

before(async () => {
  ca = makeTestCa();
  other = makeTestCa('Another CA');
  renamedCa = makeTestCa('Renamed CA', 'DNS:nebula.example.com');
  m = await startManager({}, { tls: { cert: ca.cert, key: ca.key } });
});
after(async () => {
  await m?.close();
  ca?.remove();
  other?.remove();
  renamedCa?.remove();
});

/** One HTTPS GET, verifying against `ca`: the status, or the TLS error's code. */
function httpsGet(url: string, path: string, ca: Buffer | undefined, headers: Record<string, string> = {}): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = request(`${url}${path}`, { headers, ...(ca ? { ca } : {}), agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end();
  });
}

function client(url: string, caPem?: Buffer): ManagerClient {
  return new ManagerClient({ baseUrl: url, auth: { token: ADMIN_TOKEN }, requestTimeoutMs: 5000, ...(caPem ? { ca: caPem } : {}) });
}

test('the manager answers over HTTPS with the configured certificate; plain HTTP on its port gets no API answer', async () => {
  const ok = await httpsGet(m.url, '/readyz', ca.ca);
  assert.deepEqual('status' in ok ? ok.status : ok, 200);
  const apps = await httpsGet(m.url, '/api/v2/apps', ca.ca, { authorization: `Bearer ${ADMIN_TOKEN}` });
  assert.ok('status' in apps && apps.status === 200, JSON.stringify(apps));
  assert.ok(Array.isArray(JSON.parse(apps.body).apps));

  const plain = await new Promise<number | string>((resolve) => {
    const req = httpRequest(m.url.replace('https:', 'http:') + '/readyz', { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.setTimeout(3000, () => req.destroy(new Error('timeout')));
    req.end();
  });
  assert.notEqual(plain, 200, 'a plain-HTTP request must not be served by an HTTPS manager');
});

test('the worker client with the CA file: the device endpoint works (a missing group is "missing", a present one changes)', async () => {
  const c = client(m.url, ca.ca);
  try {
    assert.deepEqual(await c.info('no-such-group-tls'), { kind: 'missing' });
  } finally {
    c.close();
  }
});

test('the worker client refuses a manager it cannot verify: system CAs only, another CA, a certificate for another name', async () => {
  const cases: Array<[string, ManagerClient]> = [
    ['system CAs', client(m.url)],
    ['another CA', client(m.url, other.ca)],
  ];
  // The certificate names 127.0.0.1 and localhost: a manager reached by another name is refused.
  const renamed = await startManager({}, { tls: { cert: renamedCa.cert, key: renamedCa.key } });
  cases.push(['a certificate for another name', client(renamed.url, renamedCa.ca)]);
  try {
    for (const [label, c] of cases) {
      await assert.rejects(
        c.info('anything'),
        (err: unknown) => err instanceof ManagerUnavailableError && /certificate|self-signed|altnames|IP: 127\.0\.0\.1/i.test(err.message),
        label,
      );
      c.close();
    }
  } finally {
    await renamed.close();
  }
});

test('settings: the manager needs both cert and key; the worker CA file only with an https manager, readable, PEM', () => {
  const base = { port: 8080 };
  assert.throws(() => loadManagerConfig({ ...base, 'tls-cert-file': ca.certFile }, {}), (e: unknown) => e instanceof ConfigError && e.setting === 'tls_key_file');
  assert.throws(() => loadManagerConfig({ ...base, 'tls-key-file': ca.keyFile }, {}), (e: unknown) => e instanceof ConfigError && e.setting === 'tls_cert_file');
  const both = loadManagerConfig({}, { NEBULA_TLS_CERT_FILE: ca.certFile, NEBULA_TLS_KEY_FILE: ca.keyFile });
  assert.deepEqual(both.tls, { certFile: ca.certFile, keyFile: ca.keyFile });

  const worker = { 'device-group': 'pos-eu', 'manager-url': 'https://127.0.0.1:8443' };
  assert.deepEqual(loadWorkerConfig({ ...worker, 'manager-ca-file': ca.caFile }, {}).managerCa, ca.ca);
  assert.throws(() => loadWorkerConfig({ ...worker, 'manager-url': 'http://127.0.0.1:8080', 'manager-ca-file': ca.caFile }, {}), (e: unknown) => e instanceof ConfigError && e.setting === 'manager_ca_file');
  assert.throws(() => loadWorkerConfig({ ...worker, 'manager-ca-file': `${ca.dir}/missing.pem` }, {}), (e: unknown) => e instanceof ConfigError && e.setting === 'manager_ca_file');
  assert.throws(() => loadWorkerConfig({ ...worker, 'manager-ca-file': `${ca.dir}/ext.cnf` }, {}), (e: unknown) => e instanceof ConfigError && /no PEM certificate/.test(e.message));
});

test('`nebula manager` with a key that is not its certificate\'s: exits 2 with a clear message, serves nothing', async () => {
  const dir = tempDir('nebula-tls-manager-');
  try {
    const proc = spawnManager(['--host', '127.0.0.1', '--port', String(await freePort()), '--data-dir', dir.dir], {
      NEBULA_TLS_CERT_FILE: ca.certFile,
      NEBULA_TLS_KEY_FILE: other.keyFile,
    });
    const code = await Promise.race([proc.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 15_000))]);
    if (code === 'still running') await stopProcess(proc);
    assert.equal(code, 2, proc.output());
    assert.match(proc.output(), /cannot read the TLS certificate or key/);
  } finally {
    dir.remove();
  }
});

test('`nebula manager` with a certificate and key serves HTTPS as a process', async () => {
  const dir = tempDir('nebula-tls-manager-');
  const port = await freePort();
  const proc = spawnManager(['--host', '127.0.0.1', '--port', String(port), '--data-dir', dir.dir], {
    NEBULA_TLS_CERT_FILE: ca.certFile,
    NEBULA_TLS_KEY_FILE: ca.keyFile,
  });
  try {
    let answer: Awaited<ReturnType<typeof httpsGet>> = { error: 'not tried' };
    for (let i = 0; i < 150; i++) {
      answer = await httpsGet(`https://127.0.0.1:${port}`, '/readyz', ca.ca);
      if ('status' in answer) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok('status' in answer && answer.status === 200, `${JSON.stringify(answer)}\n${proc.output()}`);
    assert.match(proc.output(), /"tls":true/);
  } finally {
    await stopProcess(proc);
    dir.remove();
  }
});
