"""Reads a folder of TensorBoard event files back with TensorBoard itself (PyPI `tensorboard`), for
test/tensorboard/events.test.ts. Prints one JSON object:

  {"files": {name: records}, "scalars": {tag: [[step, value], ...]}}

Every record of every file is first read with TensorBoard's own TFRecord reader, which checks both CRCs of each
record and raises on a bad one or on a truncated record (TensorBoard's loaders would stop there without a word),
up to the end of the file; any error exits 1 naming the file.
The values are then read as TensorBoard's UI reads them (EventAccumulator, every scalar kept).
"""
import json
import os
import sys

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow


def check_records(path):
    reader = pywrap_tensorflow.PyRecordReader_New(path, 0, None, None)
    n = 0
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:
            break
        event = event_pb2.Event()
        event.ParseFromString(reader.record())  # a record that is not an Event fails here
        if n == 0 and event.file_version != "brain.Event:2":
            raise SystemExit(f"{path}: first event declares {event.file_version!r}, not brain.Event:2")
        n += 1
    return n


def main(folder):
    files = sorted(f for f in os.listdir(folder) if f.startswith("events.out.tfevents."))
    if not files:
        raise SystemExit(f"{folder}: no event file")
    counts = {}
    for f in files:
        try:
            counts[f] = check_records(os.path.join(folder, f))
        except errors.DataLossError as e:
            raise SystemExit(f"{f}: {e.message}")
    acc = event_accumulator.EventAccumulator(folder, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    scalars = {tag: [[e.step, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    print(json.dumps({"files": counts, "scalars": scalars}))


if __name__ == "__main__":
    main(sys.argv[1])
