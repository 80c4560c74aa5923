/**
 * Preloaded into an `mpl` child process (`node --import`, see killAfterEpoch in test/e2e/fixtures.ts): the
 * process kills itself with SIGKILL right after epoch MPL_TEST_KILL_AFTER_EPOCH's checkpoint, as a crash or
 * `kill -9` would, so the resume tests can check what a killed run leaves behind.
 */
import { epochEndSeams } from '../../src/train/trainer.js';

const after = Number(process.env.MPL_TEST_KILL_AFTER_EPOCH);
if (Number.isInteger(after) && after > 0) {
  epochEndSeams.push((epoch) => {
    if (epoch === after) process.kill(process.pid, 'SIGKILL');
  });
}
