/**
 * TFRecord framing, the container of TensorBoard event files (tensorflow/core/lib/io/record_writer.cc):
 *
 *   uint64 length (little-endian) | uint32 masked CRC-32C of the 8 length bytes | data | uint32 masked CRC-32C of data
 *
 * The CRC is CRC-32C (Castagnoli, `@aws-crypto/crc32c`), masked as TensorFlow does so that a CRC of data that
 * itself holds CRCs is not trivially zero. TensorBoard stops reading a file at the first record whose CRC is
 * wrong, without a word, which is why the tests check every record's CRC with TensorBoard's own code.
 */
import { crc32c } from '@aws-crypto/crc32c';

const MASK_DELTA = 0xa282ead8;

/** TensorFlow's masked CRC-32C: rotate right by 15 bits, add a constant (mod 2^32). */
export function maskedCrc32c(data: Uint8Array): number {
  const crc = crc32c(data) >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

/** One record: its header, the data and the data's CRC, as one buffer ready to append to a file. */
export function frameRecord(data: Uint8Array): Buffer {
  const out = Buffer.alloc(8 + 4 + data.byteLength + 4);
  out.writeBigUInt64LE(BigInt(data.byteLength), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.byteLength);
  return out;
}
