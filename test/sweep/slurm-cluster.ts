/**
 * A one-node SLURM cluster on this machine for the sweep tests: munged, `slurmctld -D` and `slurmd -D` from
 * Debian's packages (installed by scripts/install.sh), with their own munge key, ports, state and logs in a
 * temporary folder; no accounting, proctrack/linuxproc, task/none. It fails with a clear message when
 * SLURM is missing or does not come up: the tests that need it are never skipped silently.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const BINARIES = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scontrol', 'scancel', 'sinfo'];

function which(cmd: string): string | null {
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', ...(process.env.PATH ?? '').split(':')]) {
    const p = path.join(dir, cmd);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface SlurmCluster {
  /** environment for SLURM's client commands (SLURM_CONF, PATH with sbin) */
  env: Record<string, string>;
  dir: string;
  stop(): Promise<void>;
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-5).join(' | ');
  } catch {
    return '(no log)';
  }
}

export async function startSlurm(): Promise<SlurmCluster> {
  const missing = BINARIES.filter((b) => !which(b));
  if (missing.length) {
    throw new Error(`SLURM is needed for this test but ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing: run scripts/install.sh (Debian: apt-get install slurmctld slurmd slurm-client munge)`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mpl-slurm-'));
  const keyDir = path.join(dir, 'key');
  const sock = path.join(dir, 'munge');
  for (const d of [keyDir, sock, path.join(dir, 'state'), path.join(dir, 'spool'), path.join(dir, 'log')]) fs.mkdirSync(d, { recursive: true });
  fs.chmodSync(keyDir, 0o700);
  fs.writeFileSync(path.join(keyDir, 'munge.key'), randomBytes(1024), { mode: 0o600 });
  fs.chmodSync(sock, 0o755);
  const user = os.userInfo().username;
  const host = os.hostname().split('.')[0];
  const [ctldPort, dPort] = [await freePort(), await freePort()];
  // the node as slurmd sees the hardware: a node configured with more CPUs than it has would be drained
  const cpus = /CPUs=(\d+)/.exec(spawnSync(which('slurmd')!, ['-C'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? '1';
  const conf = path.join(dir, 'slurm.conf');
  fs.writeFileSync(
    conf,
    [
      'ClusterName=mpltest',
      `SlurmctldHost=${host}(127.0.0.1)`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${dPort}`,
      'AuthType=auth/munge',
      `AuthInfo=socket=${path.join(sock, 'munge.sock')}`,
      'CredType=cred/munge',
      `SlurmUser=${user}`,
      `SlurmdUser=${user}`,
      `StateSaveLocation=${path.join(dir, 'state')}`,
      `SlurmdSpoolDir=${path.join(dir, 'spool')}`,
      `SlurmctldPidFile=${path.join(dir, 'slurmctld.pid')}`,
      `SlurmdPidFile=${path.join(dir, 'slurmd.pid')}`,
      `SlurmctldLogFile=${path.join(dir, 'log', 'slurmctld.log')}`,
      `SlurmdLogFile=${path.join(dir, 'log', 'slurmd.log')}`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      'SchedulerType=sched/builtin',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_CPU',
      'MpiDefault=none',
      'ReturnToService=2',
      'KillWait=2',
      'MinJobAge=600',
      `NodeName=mplnode NodeAddr=127.0.0.1 CPUs=${cpus} State=UNKNOWN`,
      'PartitionName=debug Nodes=mplnode Default=YES MaxTime=INFINITE State=UP',
      '',
    ].join('\n'),
  );
  const env = { SLURM_CONF: conf, PATH: `/usr/sbin:/usr/bin:${process.env.PATH ?? ''}` };
  const children: ChildProcess[] = [];
  const start = (cmd: string, args: string[], log: string) => {
    const out = fs.openSync(path.join(dir, 'log', log), 'a');
    const child = spawn(which(cmd)!, args, { env: { ...process.env, ...env }, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    children.push(child);
    return child;
  };
  const stop = async () => {
    for (const c of children.reverse()) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      const ended = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await Promise.race([ended, sleep(5000)]);
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    start('munged', ['-F', '--force', `--key-file=${path.join(keyDir, 'munge.key')}`, `--socket=${path.join(sock, 'munge.sock')}`,
      `--pid-file=${path.join(sock, 'munged.pid')}`, `--seed-file=${path.join(sock, 'seed')}`, `--log-file=${path.join(dir, 'log', 'munged.log')}`], 'munged.out');
    for (let i = 0; i < 50 && !fs.existsSync(path.join(sock, 'munge.sock')); i++) await sleep(100);
    if (!fs.existsSync(path.join(sock, 'munge.sock'))) throw new Error(`munged did not start: ${tail(path.join(dir, 'log', 'munged.out'))}`);
    start('slurmctld', ['-D', '-f', conf], 'slurmctld.out');
    start('slurmd', ['-D', '-N', 'mplnode', '-f', conf], 'slurmd.out');
    // up when the node is idle
    let state = '';
    for (let i = 0; i < 150; i++) {
      const r = spawnSync('sinfo', ['-h', '-N', '-o', '%T'], { env: { ...process.env, ...env }, encoding: 'utf8' });
      state = (r.stdout ?? '').trim();
      if (r.status === 0 && state === 'idle') return { env, dir, stop };
      await sleep(200);
    }
    throw new Error(
      `SLURM did not come up on this machine (node state '${state || 'unknown'}'): slurmctld: ${tail(path.join(dir, 'log', 'slurmctld.log'))}; ` +
        `slurmd: ${tail(path.join(dir, 'log', 'slurmd.log'))} ${tail(path.join(dir, 'log', 'slurmd.out'))}`,
    );
  } catch (e) {
    await stop();
    throw e;
  }
}
