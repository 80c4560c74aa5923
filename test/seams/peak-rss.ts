/**
 * Preloaded into an `mpl` child process (`node --import`, see peakRss in test/e2e/imagenet-scale.test.ts):
 * at exit the process writes its resident high-water mark (bytes) to MPL_TEST_PEAK_RSS_FILE, so a test can
 * read what a whole protocol run needed.
 */
import * as fs from 'node:fs';

const file = process.env.MPL_TEST_PEAK_RSS_FILE;
if (file) process.on('exit', () => fs.writeFileSync(file, String(process.resourceUsage().maxRSS * 1024)));
