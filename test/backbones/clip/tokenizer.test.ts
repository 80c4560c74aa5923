import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { ClipTokenizer, EOT_TOKEN, SOT_TOKEN, cleanText, defaultBpePath, htmlUnescape, toInt64, tokenize } from '../../../src/backbones/clip/tokenizer.js';
import { fixturesDir, goldenDir, repoRoot } from '../../helpers.js';

const tok = ClipTokenizer.default();

interface GoldenCase {
  text: string;
  ids: number[];
  bpe: number[];
}

describe('CLIP tokenizer', () => {
  test('ships OpenAI vocabulary file unchanged', () => {
    assert.equal(defaultBpePath(), path.join(repoRoot, 'assets', 'bpe_simple_vocab_16e6.txt.gz'));
    const sha = createHash('sha256').update(fs.readFileSync(defaultBpePath())).digest('hex');
    assert.equal(sha, '924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a');
    assert.equal(tok.vocabSize, 49408);
    assert.equal(tok.encoder.get('<|startoftext|>'), SOT_TOKEN);
    assert.equal(tok.encoder.get('<|endoftext|>'), EOT_TOKEN);
  });

  test('every golden case: clip.tokenize ids (truncate=True) and encode() bpe', () => {
    const golden = JSON.parse(fs.readFileSync(path.join(goldenDir, 'tokenizer.json'), 'utf8')) as {
      context_length: number;
      cases: GoldenCase[];
    };
    assert.ok(golden.cases.length >= 30);
    const all = tok.tokenize(
      golden.cases.map((c) => c.text),
      { contextLength: golden.context_length, truncate: true },
    );
    golden.cases.forEach((c, i) => {
      assert.deepEqual(tok.encode(c.text), c.bpe, `bpe of ${JSON.stringify(c.text)}`);
      const row = [...all.ids.subarray(i * 77, (i + 1) * 77)];
      assert.deepEqual(row, c.ids, `ids of ${JSON.stringify(c.text)}`);
      assert.equal(all.eotIndex[i], c.ids.indexOf(EOT_TOKEN), 'end-of-text index');
    });
  });

  test('300 adversarial strings match simple_tokenizer (entities, whitespace, case folding, special tokens)', () => {
    const cases = JSON.parse(fs.readFileSync(path.join(fixturesDir, 'tokenizer_cases.json'), 'utf8')) as Array<{ text: string; bpe: number[] }>;
    for (const c of cases) assert.deepEqual(tok.encode(c.text), c.bpe, JSON.stringify(c.text));
  });

  test('reference ids from the spec', () => {
    const ids = (w: string) => tok.encode(w);
    assert.deepEqual(ids('a photo of a dog.'), [320, 1125, 539, 320, 1929, 269]);
    assert.deepEqual(ids('x'), [343]);
    assert.deepEqual(ids('centered satellite annual crop land'), [24584, 10316, 2906, 9955, 973]);
  });

  test('tokenize: padding, eot index, truncation, the too-long error, int64', () => {
    const r = tokenize(['a dog', ''], { contextLength: 8 });
    assert.deepEqual(r.shape, [2, 8]);
    assert.deepEqual([...r.ids], [SOT_TOKEN, 320, 1929, EOT_TOKEN, 0, 0, 0, 0, SOT_TOKEN, EOT_TOKEN, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...r.eotIndex], [3, 1]);
    const long = 'dog '.repeat(10);
    assert.throws(() => tokenize(long, { contextLength: 8 }), /too long for context length 8/);
    const t = tokenize(long, { contextLength: 8, truncate: true });
    assert.deepEqual([...t.ids], [SOT_TOKEN, 1929, 1929, 1929, 1929, 1929, 1929, EOT_TOKEN]);
    assert.equal(t.eotIndex[0], 7);
    assert.deepEqual([...toInt64(Int32Array.from([1, EOT_TOKEN]))], [1n, 49407n]);
    // the official pooling index is argmax: the first end-of-text token even if the text spells one
    assert.equal(tokenize('a <|endoftext|> b').eotIndex[0], 2);
  });

  test('decode inverts encode up to cleaning', () => {
    assert.equal(tok.decode(tok.encode('A photo of a Dog.')), 'a photo of a dog . ');
    assert.equal(tok.decode(tok.encode('café 中文')), 'café 中文 ');
  });

  test("Python's html.unescape and cleaning", () => {
    assert.equal(htmlUnescape('&amp; &lt;tag&gt; &quot;q&quot; &#39;a&#39; &#x27;'), `& <tag> "q" 'a' '`);
    assert.equal(htmlUnescape('&ampx &notit; &notin; &AMP &amp'), '&x ¬it; ∉ & &');
    assert.equal(htmlUnescape('&#0; &#128; &#xD800; &#1; &#99999999999; &nosuch;'), '\ufffd € \ufffd  \ufffd &nosuch;');
    assert.equal(htmlUnescape('&amp;amp;'), '&amp;');
    assert.equal(cleanText('  &amp;amp; Multiple\u3000\x85 spaces\tAND\x1cTabs\n '), '& multiple spaces and\x1ctabs');
  });
});
