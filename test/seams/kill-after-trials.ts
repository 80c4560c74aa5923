/**
 * Preloaded into an `mpl search` child process (`node --import`, see killAfterTrials in test/e2e/fixtures.ts):
 * once MPL_TEST_KILL_AFTER_TRIALS trials have finished, the process kills itself with SIGKILL right after the
 * next trial's first epoch checkpoint, as a crash or `kill -9` would, so the search's resume test can check what
 * a killed search leaves behind.
 */
import { trialStartSeams } from '../../src/search/objective.js';
import { epochEndSeams } from '../../src/train/trainer.js';

const after = Number(process.env.MPL_TEST_KILL_AFTER_TRIALS);
if (Number.isInteger(after) && after >= 0) {
  let armed = false;
  trialStartSeams.push((done) => {
    armed = done >= after;
  });
  epochEndSeams.push(() => {
    if (armed) process.kill(process.pid, 'SIGKILL');
  });
}
