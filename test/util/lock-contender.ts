/**
 * A process of the lock race (test/util/lock.test.ts): told a folder and a start time over IPC, it waits for
 * that time (so that all contenders try at once), tries to lock the folder, holds the lock until `holdUntil`
 * when it wins, releases it, and answers { won, message }. (No tests here.)
 */
import { lockRunFolder } from '../../src/util/lock.js';

interface Go {
  dir: string;
  at: number;
  holdUntil: number;
}

const cell = new Int32Array(new SharedArrayBuffer(4));
/** Sleeps without a timer (the event loop is not needed while racing). */
const sleepUntil = (t: number) => {
  const ms = t - Date.now();
  if (ms > 0) Atomics.wait(cell, 0, 0, ms);
};

process.on('message', (m: Go | 'exit') => {
  if (m === 'exit') process.exit(0);
  sleepUntil(m.at - 3);
  while (Date.now() < m.at) {
    // spin the last milliseconds: a timer would wake each contender at a different moment
  }
  let answer: { won: boolean; message?: string; pid: number; from?: number; to?: number };
  try {
    const lock = lockRunFolder(m.dir);
    const from = Date.now();
    sleepUntil(m.holdUntil); // hold it while the others try
    const to = Date.now();
    lock.release();
    answer = { won: true, pid: process.pid, from, to };
  } catch (e) {
    answer = { won: false, message: (e as Error).message, pid: process.pid };
  }
  process.send!(answer);
});
