#!/usr/bin/env node
// Prints the summary of a scripts/gpu-check.sh run from the files it left in OUT (node scripts/gpu-summary.js OUT).
'use strict';
const fs = require('fs');
const path = require('path');

const out = process.argv[2] || process.env.OUT || '/tmp/gpu-check-out';
const read = (f) => {
  try {
    return fs.readFileSync(path.join(out, f), 'utf8');
  } catch {
    return '';
  }
};
const lastJson = (text) => {
  const line = text.split('\n').filter((l) => l.startsWith('{')).pop();
  try {
    return line ? JSON.parse(line) : null;
  } catch {
    return null;
  }
};
const tap = (text) => {
  const pass = /^# pass (\d+)/m.exec(text);
  const fail = /^# fail (\d+)/m.exec(text);
  const failed = [...text.matchAll(/^not ok \d+ - (.*)$/gm)].map((m) => m[1]);
  return pass ? `${pass[1]} passed, ${fail ? fail[1] : '?'} failed${failed.length ? ': ' + failed.join('; ') : ''}` : 'did not run';
};
const f2 = (x) => (typeof x === 'number' ? x.toFixed(2) : '-');
const f3 = (x) => (typeof x === 'number' ? x.toFixed(3) + 'x' : '-');

const lines = [];
const env = lastJson(read('env.json')) || lastJson(read('env.log'));
const smi = read('nvidia-smi.txt').trim();
lines.push(`GPU check: ${smi || (env && env.devices.map((d) => d.name).join(', ')) || 'no GPU found'}`);
lines.push(`PyTorch (python3): ${read('torch.txt').trim() || '?'}; addon: libtorch ${env ? env.libtorch : '?'}${env && env.libtorch_cuda ? ` CUDA ${env.libtorch_cuda}` : ''}, fused attention ${env ? env.fused_attention : '?'}`);
const steps = read('steps.log');
lines.push(`steps: ${[...steps.matchAll(/^(\S+) rc=(\d+)$/gm)].map((m) => `${m[1]} ${m[2] === '0' ? 'ok' : 'FAILED'}`).join(', ')}`);
lines.push(`parity tests: ${tap(read('parity.log'))}`);
const parity = read('parity.jsonl').split('\n').filter(Boolean).map((l) => JSON.parse(l));
if (parity.length) {
  lines.push('  method      precision  logits     loss       grad       delta   (relative L2 vs the fp32 golden vectors; fp32: elementwise, passed = within tolerance)');
  for (const p of parity) {
    const e = (k) => (p[k] === undefined ? '-' : Number(p[k]).toExponential(2)).padEnd(10);
    lines.push(`  ${p.method.padEnd(11)} ${p.precision.padEnd(10)} ${e('logits')} ${e(p.loss === undefined ? 'loss_total' : 'loss')} ${e('grad')} ${e('delta')}`);
  }
}
lines.push(`training tests (loss falls, precisions agree): ${tap(read('training.log'))}`);
for (const f of fs.readdirSync(out).filter((n) => /^bench-train-.*\.log$/.test(n)).sort()) {
  const r = lastJson(read(f));
  if (!r) {
    lines.push(`${f}: no result`);
    continue;
  }
  lines.push(`train bench ${r.precision} on ${r.device_name} (${r.classes} classes, ${r.train_images} train / ${r.eval_images} eval images):`);
  lines.push(`  mpl      train ${f2(r.train_images_per_s)} img/s   eval ${f2(r.eval_images_per_s)} img/s${r.eval_logits_relative_error_vs_fp32 !== undefined ? `   logits vs fp32 ${r.eval_logits_relative_error_vs_fp32.toExponential(2)}` : ''}`);
  if (r.torch_same_precision_train_images_per_s !== undefined) lines.push(`  PyTorch ${r.precision} train ${f2(r.torch_same_precision_train_images_per_s)} img/s   eval ${f2(r.torch_same_precision_eval_images_per_s)} img/s`);
  if (r.torch_version === undefined) {
    lines.push(`  (no PyTorch baseline${r.baseline_note ? `: ${r.baseline_note}` : ''})`);
    continue;
  }
  lines.push(`  PyTorch fp32 train ${f2(r.torch_train_images_per_s)} img/s   eval ${f2(r.torch_eval_images_per_s)} img/s (torch ${r.torch_version})`);
  lines.push(`  ratio (same precision): train ${f3(r.train_ratio)}   eval ${f3(r.eval_ratio)}${r.baseline_note ? '   ' + r.baseline_note : ''}`);
  const gibs = (b) => (typeof b === 'number' ? `${(b / 2 ** 30).toFixed(2)} GiB` : 'not reported');
  lines.push(`  peak GPU memory: mpl ${gibs(r.device_peak_bytes)}${r.device_peak_bytes === undefined ? ' (libtorch < 2.9)' : ''}, PyTorch fp32 ${gibs(r.torch_peak_device_bytes)}`);
}
const quick = (f) => lastJson(read(f));
const [qd, qc] = [quick('quickstart-device.log'), quick('quickstart-cpu.log')];
if (qd || qc) {
  const row = (q) => (q && q.mpl ? `base ${f2(q.mpl.base)}  new ${f2(q.mpl.new)}  HM ${f2(q.mpl.hm)}` : 'no result');
  lines.push(`quickstart --offline: device ${row(qd)}; cpu fp32 ${row(qc)}`);
  if (qd && qc && qd.mpl && qc.mpl) lines.push(`  |HM device - HM cpu| = ${Math.abs(qd.mpl.hm - qc.mpl.hm).toFixed(2)} points`);
}
for (const f of fs.readdirSync(out).filter((n) => /^bench-zeroshot-.*\.log$/.test(n)).sort()) {
  const r = lastJson(read(f));
  if (!r) {
    lines.push(`${f}: no result`);
    continue;
  }
  lines.push(
    `zero-shot bench ${r.precision}: mpl ${f2(r.images_per_s)} img/s, PyTorch ${r.precision} ${f2(r.torch_same_precision_images_per_s ?? (r.precision === 'fp32' ? r.torch_images_per_s : undefined))} img/s, ratio ${f3(r.ratio)}`,
  );
}
console.log(lines.join('\n'));
