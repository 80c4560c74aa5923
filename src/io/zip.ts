/**
 * A minimal, synchronous zip reader over an in-memory buffer, for PyTorch checkpoints.
 *
 * Why not yauzl: torch.save / torch.jit.save write STORED (uncompressed) entries aligned to 64 bytes, so the
 * fastest correct way to read a 600 MB checkpoint is one read of the file and zero-copy views of each entry.
 * yauzl streams and copies every entry. Deflated entries (e.g. TorchScript's code/ files, or a zip re-packed
 * by another tool) are inflated with zlib. Zip64 sizes/offsets are supported; encryption and multi-disk are not.
 */
import * as zlib from 'node:zlib';
import { fileError } from '../util/errors.js';

/** Deflate's largest expansion: 258 bytes per 2-bit code, about 1032:1. */
const MAX_DEFLATE_RATIO = 1032;

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();

  constructor(readonly bytes: Uint8Array, readonly file: string) {
    try {
      this.parse();
    } catch (e) {
      // A corrupt length field can point outside the buffer; report it as a bad file, not a crash.
      if (e instanceof RangeError) throw fileError(file, `truncated or corrupt zip archive (${e.message})`);
      throw e;
    }
  }

  private parse(): void {
    const { bytes, file } = this;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const len = bytes.byteLength;
    // End of central directory: 22 bytes + a comment of up to 65535 bytes, searched from the end.
    let eocd = -1;
    for (let i = len - 22; i >= Math.max(0, len - 22 - 65535); i--) {
      if (view.getUint32(i, true) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw fileError(file, 'truncated or corrupt zip archive (no end-of-central-directory record)');
    let count = view.getUint16(eocd + 10, true);
    let cdSize = view.getUint32(eocd + 12, true);
    let cdOffset = view.getUint32(eocd + 16, true);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      // Zip64: the locator sits just before the EOCD and points at the zip64 EOCD record.
      const loc = eocd - 20;
      if (loc < 0 || view.getUint32(loc, true) !== 0x07064b50) throw fileError(file, 'corrupt zip64 archive (no zip64 locator)');
      const rec = Number(view.getBigUint64(loc + 8, true));
      if (rec + 56 > len || view.getUint32(rec, true) !== 0x06064b50) throw fileError(file, 'corrupt zip64 archive (bad zip64 record)');
      count = Number(view.getBigUint64(rec + 32, true));
      cdSize = Number(view.getBigUint64(rec + 40, true));
      cdOffset = Number(view.getBigUint64(rec + 48, true));
    }
    if (cdOffset + cdSize > len) throw fileError(file, 'truncated zip archive (central directory out of range)');
    let p = cdOffset;
    for (let i = 0; i < count; i++) {
      if (p + 46 > len || view.getUint32(p, true) !== 0x02014b50) throw fileError(file, 'corrupt zip archive (bad central directory entry)');
      if (p + 46 + view.getUint16(p + 28, true) + view.getUint16(p + 30, true) > len) throw fileError(file, 'truncated zip archive (central directory entry out of range)');
      const flags = view.getUint16(p + 8, true);
      const method = view.getUint16(p + 10, true);
      let compressedSize = view.getUint32(p + 20, true);
      let size = view.getUint32(p + 24, true);
      const nameLen = view.getUint16(p + 28, true);
      const extraLen = view.getUint16(p + 30, true);
      const commentLen = view.getUint16(p + 32, true);
      let localHeaderOffset = view.getUint32(p + 42, true);
      const name = Buffer.from(bytes.buffer, bytes.byteOffset + p + 46, nameLen).toString('utf8');
      // Zip64 extra field (id 1): the 0xffffffff fields, in order uncompressed, compressed, offset.
      let x = p + 46 + nameLen;
      const xEnd = x + extraLen;
      while (x + 4 <= xEnd) {
        const id = view.getUint16(x, true);
        const sz = view.getUint16(x + 2, true);
        if (id === 1) {
          let q = x + 4;
          if (size === 0xffffffff) (size = Number(view.getBigUint64(q, true))), (q += 8);
          if (compressedSize === 0xffffffff) (compressedSize = Number(view.getBigUint64(q, true))), (q += 8);
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = Number(view.getBigUint64(q, true));
        }
        x += 4 + sz;
      }
      if (flags & 1) throw fileError(file, `zip entry "${name}" is encrypted`);
      this.entries.set(name, { name, method, compressedSize, size, localHeaderOffset });
      p = xEnd + commentLen;
    }
  }

  /** The entry's bytes: a view for stored entries, inflated for deflated ones. */
  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (!e) throw fileError(this.file, `zip entry "${name}" not found`);
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    const h = e.localHeaderOffset;
    if (h + 30 > this.bytes.byteLength || view.getUint32(h, true) !== 0x04034b50) {
      throw fileError(this.file, `truncated or corrupt zip archive (bad local header for "${name}")`);
    }
    const start = h + 30 + view.getUint16(h + 26, true) + view.getUint16(h + 28, true);
    const end = start + e.compressedSize;
    if (end > this.bytes.byteLength) {
      throw fileError(this.file, `truncated: zip entry "${name}" needs bytes up to ${end} but the file has ${this.bytes.byteLength}`);
    }
    const raw = this.bytes.subarray(start, end);
    if (e.method === 0) return raw;
    if (e.method === 8) {
      // Never inflate past the size the central directory declares (a 1 MB entry can inflate to 1 GB), and
      // refuse a declared size deflate cannot reach (at most ~1032:1), before allocating anything.
      if (e.size > MAX_DEFLATE_RATIO * e.compressedSize + 1024) {
        throw fileError(this.file, `corrupt zip entry "${name}": declares ${e.size} bytes from ${e.compressedSize} compressed, more than deflate can produce`);
      }
      let out: Buffer;
      try {
        out = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ERR_BUFFER_TOO_LARGE') {
          throw fileError(this.file, `corrupt zip entry "${name}": inflates to more than the ${e.size} bytes it declares (a zip bomb?)`);
        }
        throw fileError(this.file, `corrupt zip entry "${name}" (${(err as Error).message})`);
      }
      if (out.byteLength !== e.size) {
        throw fileError(this.file, `corrupt zip entry "${name}": inflates to ${out.byteLength} bytes but declares ${e.size}`);
      }
      return out;
    }
    throw fileError(this.file, `zip entry "${name}" uses unsupported compression method ${e.method}`);
  }
}

export function isZip(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}
