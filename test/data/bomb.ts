/**
 * Decompression bombs. For the pixel-limit tests: a valid 1-bit greyscale PNG of width x height black pixels
 * (60000x60000 is 3.6 billion pixels, 10.8 GB as RGB, in under 2 MB). For the archive limits: a zip and a
 * tar.gz holding one file of zeros (1 GiB in about 1 MB). Streamed, so making them costs little memory.
 * (No tests here.)
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { tarHeader } from '../net/helpers.js';

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body));
  return Buffer.concat([len, body, crc]);
}

export async function bigBlackPng(file: string, width: number, height: number): Promise<void> {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1; // bit depth 1
  ihdr[9] = 0; // greyscale
  const rowBytes = 1 + Math.ceil(width / 8); // filter byte + packed pixels
  const rows = Buffer.alloc(rowBytes * 1000);
  const deflate = zlib.createDeflate({ level: 1 });
  const parts: Buffer[] = [];
  deflate.on('data', (c: Buffer) => parts.push(c));
  const done = new Promise<void>((resolve, reject) => {
    deflate.on('end', resolve);
    deflate.on('error', reject);
  });
  for (let y = 0; y < height; y += 1000) {
    const n = Math.min(1000, height - y);
    if (!deflate.write(rows.subarray(0, n * rowBytes))) await new Promise((r) => deflate.once('drain', r));
  }
  deflate.end();
  await done;
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  fs.writeFileSync(file, Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', Buffer.concat(parts)), chunk('IEND', Buffer.alloc(0))]));
}

/** `bytes` zeros through a compressor, streamed: the compressed bytes. */
async function compressZeros(stream: zlib.Gzip | zlib.DeflateRaw, bytes: number, before?: Buffer, after?: Buffer): Promise<Buffer> {
  const parts: Buffer[] = [];
  stream.on('data', (c: Buffer) => parts.push(c));
  const done = new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  const zeros = Buffer.alloc(1 << 20);
  if (before) stream.write(before);
  for (let left = bytes; left > 0; left -= zeros.length) {
    if (!stream.write(zeros.subarray(0, Math.min(zeros.length, left)))) await new Promise((r) => stream.once('drain', r));
  }
  if (after) stream.write(after);
  stream.end();
  await done;
  return Buffer.concat(parts);
}

/** A zip holding `zeros.bin`, `bytes` zeros, deflated (1 GiB: about 1 MB). */
export async function zipOfZeros(file: string, bytes: number): Promise<void> {
  const zeros = Buffer.alloc(1 << 20);
  let crc = 0;
  for (let left = bytes; left > 0; left -= zeros.length) crc = zlib.crc32(zeros.subarray(0, Math.min(zeros.length, left)), crc);
  const body = await compressZeros(zlib.createDeflateRaw({ level: 9 }), bytes);
  const name = Buffer.from('zeros.bin');
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(8, 8); // deflate
  local.writeUInt32LE(crc >>> 0, 14);
  local.writeUInt32LE(body.length, 18);
  local.writeUInt32LE(bytes, 22);
  local.writeUInt16LE(name.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE((3 << 8) | 20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(crc >>> 0, 16);
  central.writeUInt32LE(body.length, 20);
  central.writeUInt32LE(bytes, 24);
  central.writeUInt16LE(name.length, 28);
  central.writeUInt32LE((0o100644 << 16) >>> 0, 38);
  const cd = Buffer.concat([central, name]);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(30 + name.length + body.length, 16);
  fs.writeFileSync(file, Buffer.concat([local, name, body, cd, end]));
}

/** A tar.gz holding `zeros.bin`, `bytes` zeros (1 GiB: about 1 MB). */
export async function tarGzOfZeros(file: string, bytes: number): Promise<void> {
  const pad = Buffer.alloc((512 - (bytes % 512)) % 512 + 1024); // to the block, then the two end blocks
  fs.writeFileSync(file, await compressZeros(zlib.createGzip({ level: 9 }), bytes, tarHeader({ name: 'zeros.bin' }, bytes), pad));
}
