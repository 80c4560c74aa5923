/**
 * A process of the lock race (test/util/lock.test.ts): told a folder and a start time over IPC, it waits for
 * that time (so that all contenders try at once) and tries to lock the folder. It answers { won, message };
 * a winner keeps the lock until told 'release' (so that every other contender, however late, meets a live
 * holder), then answers 'released'. (No tests here.)
 */
import { lockRunFolder, type RunLock } from '../../src/util/lock.js';

interface Go {
  dir: string;
  at: number;
}

const cell = new Int32Array(new SharedArrayBuffer(4));
let lock: RunLock | undefined;

process.on('message', (m: Go | 'release' | 'exit') => {
  if (m === 'exit') process.exit(0);
  if (m === 'release') {
    lock?.release();
    lock = undefined;
    process.send!('released');
    return;
  }
  // sleep without a timer to just before the start, then spin: a timer would wake each one at another moment
  const ms = m.at - 3 - Date.now();
  if (ms > 0) Atomics.wait(cell, 0, 0, ms);
  while (Date.now() < m.at) {
    // spin
  }
  const skew = Date.now() - m.at;
  try {
    lock = lockRunFolder(m.dir);
    process.send!({ won: true, pid: process.pid, skew });
  } catch (e) {
    process.send!({ won: false, message: (e as Error).message, pid: process.pid, skew });
  }
});
