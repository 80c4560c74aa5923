/**
 * No value of a sweep file (or an executor flag) reaches a shell as code (issue 22, item 1). Every SLURM
 * setting is checked against what SLURM accepts and refused, naming its key, when it is not; the job script
 * writes each setting as one quoted #SBATCH directive and reads each run's folder and arguments as data. The
 * generated script is run by a real bash with the environment SLURM gives an array task and hostile paths and
 * arguments, and its #SBATCH lines are read the way sbatch reads them (slurm.test.ts submits a sweep with a
 * hostile output folder to a real one-node cluster).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { jobScript } from '../../src/sweep/slurm.js';
import { sweepFromObject } from '../../src/sweep/spec.js';
import { UserError } from '../../src/util/errors.js';
import { tmpDir } from '../helpers.js';
import { mplCli } from '../e2e/fixtures.js';
import { sbatchArguments } from './sbatch-reader.js';

const work = tmpDir('mpl-slurm-script-');
const base = { model: 'ViT-B/16', root: '/data', protocol: 'base2new', datasets: ['dtd'], methods: ['coop'], seeds: [1] };
const sweepWith = (slurm: Record<string, unknown>, out = '/o') => sweepFromObject({ ...base, out, slurm }, 'sweep.yaml', 'sweep', '/');

/** The one-line error a sweep file with this `slurm:` block gets. */
function refused(slurm: Record<string, unknown>, key: RegExp): string {
  let message = '';
  assert.throws(() => sweepWith(slurm), (e: Error) => {
    message = e.message;
    return e instanceof UserError;
  }, JSON.stringify(slurm));
  assert.match(message, key);
  assert.ok(!message.includes('\n'), `one line: ${JSON.stringify(message)}`);
  return message;
}

describe('SLURM settings from a sweep file are checked, naming the key', () => {
  it('a newline, a command or a quote in any setting is refused before anything is written', () => {
    assert.match(refused({ partition: 'gpu\ntouch /tmp/pwned' }, /^sweep\.yaml: slurm\.partition: 'gpu\\ntouch \/tmp\/pwned' is not what SLURM accepts here \(names of letters/), /gpu/);
    refused({ account: 'lab; rm -rf ~' }, /slurm\.account: .*not what SLURM accepts/);
    refused({ qos: '$(id)' }, /slurm\.qos: /);
    refused({ time: '1:00:00\n#SBATCH --wrap=id' }, /slurm\.time: .*\(minutes, MM:SS, HH:MM:SS/);
    refused({ mem: '32G --export=ALL' }, /slurm\.mem: .*\(megabytes, or a number with K, M, G or T/);
    refused({ gres: 'gpu:1"' }, /slurm\.gres: /);
    refused({ 'cpus-per-task': 0 }, /slurm\.cpus-per-task: expected an integer ≥ 1/);
    refused({ 'cpus-per-task': 10_000_000 }, /slurm\.cpus-per-task: expected a whole number from 1 to 4096/);
    refused({ 'job-name': 'x' }, /slurm: unknown key 'job-name'/);
  });

  it('extra sbatch arguments: only listed options, each value checked; options that run code or move files are refused', () => {
    refused({ 'sbatch-args': ['--export=ALL,LD_PRELOAD=/tmp/evil.so'] }, /slurm\.sbatch-args\[0\]: --export is not one of the sbatch options a sweep may set/);
    refused({ 'sbatch-args': ['--qos=long', '--output=/etc/cron.d/x'] }, /slurm\.sbatch-args\[1\]: --output is not one of/);
    for (const opt of ['--chdir=/', '--wrap=id', '--uid=0', '--get-user-env', '--array=0-9', '--job-name=x', '--error=/tmp/e']) refused({ 'sbatch-args': [opt] }, /is not one of the sbatch options/);
    refused({ 'sbatch-args': ['--constraint=a100\nid'] }, /slurm\.sbatch-args\[0\]: 'a100\\nid' is not what SLURM accepts/);
    refused({ 'sbatch-args': ['--constraint=a"b'] }, /sbatch-args\[0\]/);
    refused({ 'sbatch-args': ['--partition=gpu\nid'] }, /slurm\.sbatch-args\[0\]: 'gpu\\nid' is not what SLURM accepts here \(names of letters/);
    refused({ 'sbatch-args': ['-p gpu'] }, /'-p gpu' is not an sbatch option written --name=value or --name/);
    refused({ 'sbatch-args': ['--exclusive=yes please'] }, /--exclusive takes no value/);
    refused({ 'sbatch-args': ['--nodes'] }, /--nodes needs a value/);
  });

  it('what clusters use is accepted', () => {
    const s = sweepWith({
      partition: 'gpu,debug', gres: 'gpu:a100:2', mem: 32000, time: '2-00:00:00', account: 'lab-1', qos: 'long', 'cpus-per-task': 8,
      'sbatch-args': ['--qos=long', '--cpus-per-task=4', '--constraint=a100&nvlink', '--exclusive', '--signal=B:USR1@90', '--mail-type=END,FAIL', '--mail-user=a.b@uni.edu', '--gpus-per-node=a100:2', '--nodelist=node[01-04]', '--dependency=afterok:12:13'],
    });
    assert.deepEqual([s.slurm.partition, s.slurm.gres, s.slurm.mem, s.slurm.time, s.slurm.cpusPerTask], ['gpu,debug', 'gpu:a100:2', '32000', '2-00:00:00', 8]);
    for (const t of ['90', '30:00', '12:00:00', '1-12', '1-12:30', 'UNLIMITED']) assert.equal(sweepWith({ time: t }).slurm.time, t);
  });
});

describe('the job script runs hostile paths and arguments as data', () => {
  // an output folder and run arguments with everything a shell or sbatch would interpret
  const hostile = `runs 'q' $(touch ${work}/PWNED1) \`touch ${work}/PWNED2\` #c %d "dq" *`;
  const out = path.join(work, hostile);
  const sweep = sweepWith({ partition: 'debug' }, out);
  const runDir = path.join(out, 'run 1');
  const argv = ['base2new', '--root', `/d'; touch ${work}/PWNED3; echo '`, '--ctx-init', '', '--name', 'two\nlines', '--out', `$(touch ${work}/PWNED4)`, '*', '"'];
  const fake = path.join(work, 'fake-mpl.js');
  fs.writeFileSync(fake, 'require("fs").writeFileSync(process.env.ARGV_OUT, JSON.stringify({ argv: process.argv.slice(2), threads: process.env.MPL_NUM_THREADS }));\n');
  const tasksDir = path.join(out, '.sweeps', 'sweep', 'job.tasks');
  const job = jobScript(sweep, [{ runDir: '/nowhere', argv: ['x'] }, { runDir, argv }], sweep.slurm, [process.execPath, fake], tasksDir);
  fs.mkdirSync(tasksDir, { recursive: true });
  job.tasks.forEach((t, i) => fs.writeFileSync(path.join(tasksDir, String(i)), t));
  const script = path.join(work, 'job.sh');
  fs.writeFileSync(script, job.script);
  const bash = (task: string) =>
    spawnSync('bash', [script], { encoding: 'utf8', env: { ...process.env, SLURM_ARRAY_TASK_ID: task, SLURM_ARRAY_JOB_ID: '77', SLURM_CPUS_PER_TASK: '3', MPL_NUM_THREADS: '', ARGV_OUT: path.join(work, 'argv.json') } });
  const pwned = () => fs.readdirSync(work).filter((f) => f.startsWith('PWNED'));

  it('bash runs mpl with exactly the run\'s arguments, logging into the run folder; nothing is executed', () => {
    const r = bash('1');
    assert.equal(r.status, 0, r.stderr);
    const seen = JSON.parse(fs.readFileSync(path.join(work, 'argv.json'), 'utf8'));
    assert.deepEqual(seen.argv, argv);
    assert.equal(seen.threads, '3', 'MPL_NUM_THREADS from SLURM_CPUS_PER_TASK');
    assert.match(fs.readFileSync(path.join(runDir, 'slurm-77_1.log'), 'utf8'), /^job 77_1 on \S+ at \d{4}-/);
    assert.deepEqual(pwned(), []);
  });

  it('a task id that is not a number runs nothing', () => {
    for (const id of ['1; touch x', '../0', '', '1 0']) {
      const r = bash(id);
      assert.equal(r.status, 2, `${JSON.stringify(id)}: ${r.stderr}`);
      assert.match(r.stderr, /not an array task of this job/);
    }
    assert.equal(bash('5').status, 2, 'no task file, no run');
    assert.deepEqual(pwned(), []);
  });

  it('sbatch reads each directive as one argument: the hostile output folder intact, its % doubled', () => {
    const directives = job.script.split('\n').filter((l) => l.startsWith('#SBATCH'));
    assert.deepEqual(directives.map(sbatchArguments), [
      ['--job-name=mpl-sweep'],
      ['--array=0-1'],
      [`--output=${path.join(out, '.sweeps', 'sweep').replace(/%/g, '%%')}/slurm-%A_%a.out`],
      ['--cpus-per-task=1'],
      ['--partition=debug'],
    ]);
    // the script's other lines hold no value from the sweep but the (single-quoted) task folder
    const rest = job.script.split('\n').filter((l) => !l.startsWith('#'));
    assert.deepEqual(rest.filter((l) => l.includes('PWNED')), [`TASKS='${tasksDir.replace(/'/g, `'\\''`)}'`]);
  });

  it('an output folder SLURM cannot name (a line break, a backslash) is refused, naming out', () => {
    for (const bad of ['/o/a\nb', '/o/a\\b']) {
      const s = sweepWith({}, bad);
      assert.throws(() => jobScript(s, [{ runDir: '/r', argv: ['x'] }], {}, ['node'], '/t'), (e: Error) => e instanceof UserError && /^out: .*SLURM cannot write its output there/.test(e.message) && !e.message.includes('\n'));
    }
  });

  it('a library caller passing raw settings gets the same checks', () => {
    assert.throws(() => jobScript(sweep, [{ runDir: '/r', argv: ['x'] }], { partition: 'a\nb' }, ['node'], '/t'), /slurm\.partition: 'a\\nb' is not what SLURM accepts/);
    assert.throws(() => jobScript(sweep, [{ runDir: '/r', argv: ['x'] }], { sbatchArgs: ['--export=ALL'] }, ['node'], '/t'), /--export is not one of/);
  });
});

describe('executor flags are checked the same way', () => {
  it('mpl sweep submit --partition with a newline is refused, naming the flag; nothing is written', () => {
    const file = path.join(work, 'flags.yaml');
    fs.writeFileSync(file, `out: ${path.join(work, 'flag-runs')}\nmodel: ViT-B/16\nroot: /data\nprotocol: base2new\ndatasets: [dtd]\nmethods: [coop]\n`);
    for (const [flag, value, msg] of [
      ['--partition', 'gpu\nid', /^mpl: --partition: 'gpu\\nid' is not what SLURM accepts here/],
      ['--time', '$(id)', /^mpl: --time: '\$\(id\)' is not what SLURM accepts here/],
      ['--sbatch-arg', '--export=ALL', /^mpl: --sbatch-arg: --export is not one of the sbatch options/],
      ['--cpus-per-task', '5000', /^mpl: --cpus-per-task: expected a whole number from 1 to 4096/],
    ] as const) {
      const r = mplCli(['sweep', 'submit', file, '--executor', 'slurm', flag, value]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, msg);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.ok(!fs.existsSync(path.join(work, 'flag-runs')), 'nothing written');
  });
});
