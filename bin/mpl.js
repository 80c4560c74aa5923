#!/usr/bin/env node
'use strict';
// A reader that stops early (`mpl --help | head`, `mpl table --json | true`) closes the pipe: that ends the
// output, not a crash. Exit quietly, as other command-line tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err && err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}
require('../dist/src/cli/main.js').main(process.argv).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`mpl: ${err && err.stack ? err.stack : err}\n`); process.exitCode = 1; },
);
