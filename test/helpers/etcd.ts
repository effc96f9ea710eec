// A real, throw-away etcd for integration tests: the controller's managed etcd
// (loopback, free ports, fast start) in a fresh temporary state dir that stop()
// removes again.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../api/index.js';
import { ManagedEtcd } from '../../controller/index.js';

export interface TestEtcd {
  endpoints: string[];
  dataDir: string;
  /** The managed process, for tests that kill or inspect it. */
  etcd: ManagedEtcd;
  stop(): Promise<void>;
}

export async function startEtcd(opts: { autoCompactionRetention?: string } = {}): Promise<TestEtcd> {
  const stateDir = mkdtempSync(join(tmpdir(), 'flotilla-etcd-test-'));
  const etcd = new ManagedEtcd({
    stateDir,
    log: silentLogger(),
    autoCompactionRetention: opts.autoCompactionRetention,
    stopTimeoutMs: 3000,
    // A fixture for store tests: plain HTTP (the controller's own etcd has TLS, see etcd-tls.test.ts).
    tls: false,
  });
  try {
    await etcd.start();
  } catch (e) {
    rmSync(stateDir, { recursive: true, force: true });
    throw e;
  }
  return {
    endpoints: etcd.endpoints,
    dataDir: etcd.dataDir,
    etcd,
    async stop() {
      await etcd.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
