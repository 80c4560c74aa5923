/**
 * The two protobuf messages a scalar event file needs, encoded with `@bufbuild/protobuf`'s wire writer (field
 * numbers from tensorflow/core/util/event.proto and tensorflow/core/framework/summary.proto):
 *
 *   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
 *   Summary { repeated Value value = 1; }
 *   Value   { string tag = 1; float simple_value = 2; }
 *
 * Scalars are written as `simple_value`, as PyTorch's SummaryWriter.add_scalar (which Dassl uses) writes them.
 */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

/** The first event of every file: TensorBoard reads the file only if it declares this version. */
export const FILE_VERSION = 'brain.Event:2';

export function fileVersionEvent(wallTime: number): Uint8Array {
  return new BinaryWriter().tag(1, WireType.Bit64).double(wallTime).tag(3, WireType.LengthDelimited).string(FILE_VERSION).finish();
}

/** An event with one scalar per tag, all at the same step. */
export function scalarsEvent(wallTime: number, step: number, values: ReadonlyArray<readonly [tag: string, value: number]>): Uint8Array {
  const w = new BinaryWriter().tag(1, WireType.Bit64).double(wallTime).tag(2, WireType.Varint).int64(step);
  w.tag(5, WireType.LengthDelimited).fork();
  for (const [tag, value] of values) {
    w.tag(1, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(tag).tag(2, WireType.Bit32).float(value).join();
  }
  return w.join().finish();
}
