import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tar from 'tar';
import {
  CATALOGUE,
  downloadDataset,
  findDataset,
  listDatasets,
  type DatasetEntry,
} from '../../src/data/download.js';
import { unsafeEntryReason } from '../../src/io/archive.js';
import { UserError } from '../../src/util/errors.js';
import { tmpDir } from '../helpers.js';
import { makeTar, makeZip, sendFile, startServer, type TestServer } from './helpers.js';

const md5 = (b: Buffer): string => crypto.createHash('md5').update(b).digest('hex');
const sha256 = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

/** Every file under `dir`, as sorted posix paths. */
function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(d, e.name), r);
      else out.push(r);
    }
  };
  if (fs.existsSync(dir)) walk(dir, '');
  return out.sort();
}

describe('default catalogue', () => {
  it('covers the required datasets, each download checked by md5 or sha256', () => {
    const modes = Object.fromEntries(listDatasets().map((d) => [d.name, d.mode]));
    for (const name of ['EuroSAT', 'DescribableTextures', 'OxfordPets', 'OxfordFlowers', 'Caltech101', 'FGVCAircraft']) {
      assert.equal(modes[name], 'automatic', name);
    }
    assert.equal(modes.Food101, 'partly manual'); // the split file has no stable link
    for (const name of ['ImageNet', 'ImageNetV2', 'ImageNetSketch', 'ImageNetA', 'ImageNetR', 'SUN397']) assert.equal(modes[name], 'manual', name);
    for (const name of ['StanfordCars', 'UCF101']) assert.equal(modes[name], 'partly manual', name);
    for (const d of CATALOGUE) {
      for (const f of d.files) {
        assert.ok(f.md5 || f.sha256, `${d.name} ${f.file} has a checksum`);
        for (const u of f.urls) assert.match(u, /^https?:\/\//);
      }
    }
    // Folders as in the CoOp layout (spec §3.1).
    assert.equal(findDataset('flowers102').dir, 'oxford_flowers');
    assert.equal(findDataset('DTD').dir, 'dtd');
    assert.equal(findDataset('caltech-101').dir, 'caltech-101');
    assert.equal(findDataset('food101').dir, 'food-101');
    assert.throws(() => findDataset('mnist'), /unknown dataset 'mnist'.*--list/);
  });

  it('prints manual steps for ImageNet without any network access', async () => {
    const root = tmpDir('mpl-data-manual-');
    const r = await downloadDataset('ImageNet', { root });
    assert.equal(r.complete, false);
    assert.equal(r.downloaded.length, 0);
    const text = r.manual.join('\n');
    assert.ok(text.includes(path.join(root, 'imagenet', 'images', 'train')), text);
    assert.match(text, /classnames\.txt/);
  });

  it('rejects unsafe entry names', () => {
    assert.equal(unsafeEntryReason('a/b.jpg'), undefined);
    assert.match(unsafeEntryReason('../x')!, /'\.\.'/);
    assert.match(unsafeEntryReason('a/../../x')!, /'\.\.'/);
    assert.match(unsafeEntryReason('/etc/passwd')!, /absolute/);
    assert.match(unsafeEntryReason('C:\\x')!, /absolute/);
    assert.match(unsafeEntryReason('a\\..\\x')!, /'\.\.'/);
  });
});

describe('downloadDataset against a local server', () => {
  const work = tmpDir('mpl-data-');
  const files = new Map<string, Buffer>();
  let server: TestServer;

  // A tar.gz like DTD's (top folder inside), a zip like EuroSAT's (stored and deflated entries), a zip
  // holding a tar.gz like Caltech101's, a tar.gz whose data/ is merged (like FGVCAircraft), malicious archives.
  const jpg = (n: number): Buffer => Buffer.from(`fake jpeg ${n} `.repeat(50));
  const split = Buffer.from(JSON.stringify({ train: [['a/1.jpg', 0, 'a']], val: [], test: [] }));

  before(async () => {
    const src = path.join(work, 'src');
    fs.mkdirSync(path.join(src, 'texset', 'images', 'banded'), { recursive: true });
    fs.mkdirSync(path.join(src, 'texset', 'labels'), { recursive: true });
    fs.writeFileSync(path.join(src, 'texset', 'images', 'banded', 'banded_0001.jpg'), jpg(1));
    fs.writeFileSync(path.join(src, 'texset', 'images', 'banded', 'banded_0002.jpg'), jpg(2));
    fs.writeFileSync(path.join(src, 'texset', 'labels', 'train1.txt'), 'banded/banded_0001.jpg\n');
    const tgz = path.join(work, 'texset.tar.gz');
    await tar.c({ gzip: true, file: tgz, cwd: src }, ['texset']);
    files.set('/texset.tar.gz', fs.readFileSync(tgz));

    files.set(
      '/EuroSATlike.zip',
      makeZip([
        { name: '2750/' },
        { name: '2750/Forest/' },
        { name: '2750/Forest/Forest_1.jpg', data: jpg(3), method: 'deflate' },
        { name: '2750/River/River_1.jpg', data: jpg(4), method: 'store' },
        { name: '__MACOSX/2750/._junk', data: Buffer.from('junk') },
      ]),
    );

    const innerTgz = makeTar([
      { name: '101_ObjectCategories/', type: '5' },
      { name: '101_ObjectCategories/accordion/image_0001.jpg', data: jpg(5) },
      { name: '101_ObjectCategories/BACKGROUND_Google/image_0001.jpg', data: jpg(6) },
    ]);
    files.set('/inner.md5', Buffer.from(md5(innerTgz)));
    files.set('/caltechlike.zip', makeZip([{ name: 'caltech-101/101_ObjectCategories.tar.gz', data: innerTgz }, { name: 'caltech-101/show_annotation.m', data: Buffer.from('%') }]));

    files.set(
      '/aircraftlike.tar.gz',
      makeTar([
        { name: 'fgvc-aircraft-2013b/data/images/0001.jpg', data: jpg(7) },
        { name: 'fgvc-aircraft-2013b/data/variants.txt', data: Buffer.from('707-320\n') },
        { name: 'fgvc-aircraft-2013b/README.md', data: Buffer.from('readme') },
      ]),
    );

    files.set('/evil.zip', makeZip([{ name: 'images/ok.jpg', data: jpg(8) }, { name: '../evil.txt', data: Buffer.from('pwned') }]));
    files.set('/evil.tar.gz', makeTar([{ name: 'images/ok.jpg', data: jpg(9) }, { name: '../evil.txt', data: Buffer.from('pwned') }]));
    files.set('/abs.tar.gz', makeTar([{ name: 'images/ok.jpg', data: jpg(9) }, { name: '/tmp/mpl-abs-evil.txt', data: Buffer.from('pwned') }]));
    files.set('/link.tar.gz', makeTar([{ name: 'images/ok.jpg', data: jpg(9) }, { name: 'images/up', type: '2', linkname: '../../..' }]));
    files.set('/split.json', split);

    server = await startServer((req, res, log) => {
      const body = files.get(req.url ?? '');
      if (!body) {
        res.writeHead(404);
        return res.end();
      }
      sendFile(req, res, log, body);
    });
  });
  after(async () => {
    await server.close();
  });

  const url = (p: string): string => `${server.base}${p}`;

  it('downloads a tar.gz and a split file into the CoOp layout; a second run skips everything', async () => {
    const root = path.join(work, 'root1');
    const catalogue: DatasetEntry[] = [
      {
        name: 'TexSet',
        aliases: ['tex'],
        dir: 'texset',
        homepage: 'http://example.invalid',
        files: [
          {
            urls: [url('/texset.tar.gz')],
            file: 'texset.tar.gz',
            md5: md5(files.get('/texset.tar.gz')!),
            kind: 'tar',
            take: [
              { from: 'texset/images', to: 'images' },
              { from: 'texset/labels', to: 'labels', optional: true },
              { from: 'texset/imdb', to: 'imdb', optional: true },
            ],
          },
          { urls: [url('/split.json')], file: 'split_zhou_TexSet.json', sha256: sha256(split), kind: 'file' },
        ],
        expect: ['images', 'split_zhou_TexSet.json'],
      },
    ];
    const r = await downloadDataset('tex', { root, catalogue });
    assert.equal(r.complete, true);
    assert.deepEqual(r.downloaded, ['texset.tar.gz', 'split_zhou_TexSet.json']);
    assert.deepEqual(listTree(path.join(root, 'texset')), [
      'images/banded/banded_0001.jpg',
      'images/banded/banded_0002.jpg',
      'labels/train1.txt',
      'split_zhou_TexSet.json',
    ]);
    assert.deepEqual(fs.readFileSync(path.join(root, 'texset', 'images', 'banded', 'banded_0002.jpg')), jpg(2));
    // No archives, temporary folders or download folders left in the root.
    assert.deepEqual(fs.readdirSync(root), ['texset']);

    const n = server.log.length;
    const again = await downloadDataset('TexSet', { root, catalogue });
    assert.equal(again.complete, true);
    assert.equal(again.downloaded.length, 0);
    assert.equal(server.log.length, n, 'already present: no request');
  });

  it('extracts a zip (stored + deflate entries), skipping __MACOSX; falls back to a second mirror', async () => {
    const root = path.join(work, 'root2');
    const zip = files.get('/EuroSATlike.zip')!;
    const catalogue: DatasetEntry[] = [
      {
        name: 'SatLike',
        aliases: [],
        dir: 'eurosat',
        homepage: '',
        files: [{ urls: [url('/gone.zip'), url('/EuroSATlike.zip')], file: 'EuroSAT.zip', md5: md5(zip), kind: 'zip', take: [{ from: '2750', to: '2750' }] }],
        expect: ['2750'],
      },
    ];
    const warnings: string[] = [];
    const reporter = { info() {}, warn: (m: string) => void warnings.push(m), progress: () => ({ update() {}, stop() {} }) };
    const r = await downloadDataset('satlike', { root, catalogue, reporter });
    assert.equal(r.complete, true);
    assert.deepEqual(listTree(path.join(root, 'eurosat')), ['2750/Forest/Forest_1.jpg', '2750/River/River_1.jpg']);
    assert.deepEqual(fs.readFileSync(path.join(root, 'eurosat', '2750', 'Forest', 'Forest_1.jpg')), jpg(3));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /gone\.zip: HTTP 404/);
  });

  it('extracts a tar.gz nested in a zip (Caltech101) and merges a data/ folder into the dataset folder (FGVCAircraft)', async () => {
    const root = path.join(work, 'root3');
    const catalogue: DatasetEntry[] = [
      {
        name: 'CaltechLike',
        aliases: [],
        dir: 'caltech-101',
        homepage: '',
        files: [
          {
            urls: [url('/caltechlike.zip')],
            file: 'caltech-101.zip',
            md5: md5(files.get('/caltechlike.zip')!),
            kind: 'zip',
            take: [
              {
                from: '101_ObjectCategories.tar.gz', // found below the zip's caltech-101/ top folder
                extract: { kind: 'tar', md5: files.get('/inner.md5')!.toString(), take: [{ from: '101_ObjectCategories', to: '101_ObjectCategories' }] },
              },
            ],
          },
        ],
        expect: ['101_ObjectCategories'],
      },
      {
        name: 'AircraftLike',
        aliases: [],
        dir: 'fgvc_aircraft',
        homepage: '',
        files: [{ urls: [url('/aircraftlike.tar.gz')], file: 'a.tar.gz', md5: md5(files.get('/aircraftlike.tar.gz')!), kind: 'tar', take: [{ from: 'fgvc-aircraft-2013b/data', to: '.' }] }],
        expect: ['images', 'variants.txt'],
      },
    ];
    const c = await downloadDataset('CaltechLike', { root, catalogue, keepArchives: true });
    assert.equal(c.complete, true);
    assert.deepEqual(listTree(path.join(root, 'caltech-101')), [
      '101_ObjectCategories/BACKGROUND_Google/image_0001.jpg',
      '101_ObjectCategories/accordion/image_0001.jpg',
    ]);
    // --keep-archives keeps the verified download where a later run reuses it.
    assert.ok(fs.existsSync(path.join(root, '.mpl-downloads', 'caltech-101', 'caltech-101.zip')));

    const a = await downloadDataset('AircraftLike', { root, catalogue });
    assert.equal(a.complete, true);
    assert.deepEqual(listTree(path.join(root, 'fgvc_aircraft')), ['images/0001.jpg', 'variants.txt']);
  });

  it('rejects path-traversal, absolute and escaping-link entries, placing nothing', async () => {
    const cases: Array<[string, 'zip' | 'tar', RegExp]> = [
      ['/evil.zip', 'zip', /unsafe archive entry '\.\.\/evil\.txt' rejected/],
      ['/evil.tar.gz', 'tar', /unsafe archive entries rejected: '\.\.\/evil\.txt'/],
      ['/abs.tar.gz', 'tar', /'\/tmp\/mpl-abs-evil\.txt' \(absolute path\)/],
      ['/link.tar.gz', 'tar', /'images\/up' \(link to \.\.\/\.\.\/\.\. outside the archive\)/],
    ];
    for (const [p, kind, pattern] of cases) {
      const root = path.join(work, `evil-${kind}-${path.basename(p)}`);
      const catalogue: DatasetEntry[] = [
        {
          name: 'Evil',
          aliases: [],
          dir: 'evil',
          homepage: '',
          files: [{ urls: [url(p)], file: path.basename(p), md5: md5(files.get(p)!), kind, take: [{ from: 'images', to: 'images' }] }],
          expect: ['images'],
        },
      ];
      await assert.rejects(downloadDataset('Evil', { root, catalogue }), (e: unknown) => {
        assert.ok(e instanceof UserError, String(e));
        assert.match(e.message, pattern);
        return true;
      });
      assert.equal(fs.existsSync(path.join(root, 'evil', 'images')), false, `${p}: nothing placed`);
      assert.equal(fs.existsSync(path.join(root, '..', 'evil.txt')), false, `${p}: nothing escaped`);
      assert.equal(fs.existsSync(path.join(work, 'evil.txt')), false);
      // The temporary extraction folder is gone; only the (verified) archive remains for inspection.
      assert.deepEqual(fs.readdirSync(root).filter((n) => n.startsWith('.mpl-tmp')), []);
    }
    assert.equal(fs.existsSync('/tmp/mpl-abs-evil.txt'), false);
  });

  it('reports a checksum mismatch of an archive and does not try other mirrors', async () => {
    const root = path.join(work, 'root5');
    const catalogue: DatasetEntry[] = [
      {
        name: 'Wrong',
        aliases: [],
        dir: 'wrong',
        homepage: '',
        files: [{ urls: [url('/split.json'), url('/split.json?again')], file: 's.json', md5: '0'.repeat(32), kind: 'file' }],
        expect: ['s.json'],
      },
    ];
    const n = server.log.length;
    await assert.rejects(downloadDataset('Wrong', { root, catalogue }), /md5 mismatch: expected 0{32}, got [0-9a-f]{32}/);
    assert.equal(server.log.length - n, 1);
    assert.equal(fs.existsSync(path.join(root, 'wrong', 's.json')), false);
  });

  it('prints manual steps only for what is missing (split file of a partly manual dataset)', async () => {
    const root = path.join(work, 'root6');
    const catalogue: DatasetEntry[] = [
      {
        name: 'Partly',
        aliases: [],
        dir: 'partly',
        homepage: '',
        files: [{ urls: [url('/split.json')], file: 'split_zhou_Partly.json', sha256: sha256(split), kind: 'file' }],
        expect: ['images', 'split_zhou_Partly.json'],
        manual: [
          { path: 'images', steps: (dir) => [`put the images in ${path.join(dir, 'images')}`] },
          { path: 'split_zhou_Partly.json', steps: () => ['never shown: downloaded'] },
        ],
      },
    ];
    const r = await downloadDataset('Partly', { root, catalogue });
    assert.equal(r.complete, false);
    assert.deepEqual(r.manual, [`put the images in ${path.join(root, 'partly', 'images')}`]);
    assert.ok(fs.existsSync(path.join(root, 'partly', 'split_zhou_Partly.json')));
  });
});
