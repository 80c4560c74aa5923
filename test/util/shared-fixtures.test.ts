import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { fixturesDir } from '../helpers.js';
import { TINY_CLIP_SHA256, hfToOpenAi } from '../shared-fixtures.js';

test('the repository holds the reference files: the OpenAI-named tiny CLIP is rebuilt byte for byte from the stored fp16 file', () => {
  const hf = zlib.gunzipSync(fs.readFileSync(path.join(fixturesDir, 'shared', 'golden', 'tiny_clip_hf.safetensors.gz')));
  assert.equal(createHash('sha256').update(hf).digest('hex'), 'dbc09450d93841aee478c0c84922bf134eda98da1be57a8823921a6d62cbe0f4', 'the stored Hugging Face file is the original');
  assert.equal(createHash('sha256').update(hfToOpenAi(hf)).digest('hex'), TINY_CLIP_SHA256);
});
