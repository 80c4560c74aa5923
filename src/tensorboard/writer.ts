/**
 * An event file writer: `<dir>/events.out.tfevents.<seconds>.<host>.<pid>.<n>` (PyTorch's SummaryWriter names its
 * files the same way), one TFRecord per event, appended as it comes so that TensorBoard shows a run while it
 * trains. A resumed run writes a new file into the same folder, as Dassl does; TensorBoard reads them in order.
 * The file is created at the first event, so making a writer never fails and a run that stops before writing
 * anything leaves no empty file.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserError } from '../util/errors.js';
import { ensureDir } from '../util/fs.js';
import { fileVersionEvent, scalarsEvent } from './event.js';
import { frameRecord } from './record.js';

let filesOpened = 0;

export class EventFileWriter {
  /** the event file, once the first event made it */
  file: string | null = null;
  private fd: number | null = null;
  private closed = false;

  constructor(private readonly dir: string) {}

  /** Scalars at one step, as `SummaryWriter.add_scalar` writes them (32-bit floats); every value must be finite. */
  scalars(step: number, values: Record<string, number>, wallTime = Date.now() / 1000): void {
    const entries = Object.entries(values);
    for (const [tag, v] of entries) {
      // the trainer refuses a diverged loss before it reports it: a non-finite value here is a bug, never written
      if (!Number.isFinite(v)) throw new Error(`${this.file}: refusing to write the non-finite value ${v} for ${tag} at step ${step}`);
    }
    if (!Number.isSafeInteger(step) || step < 0) throw new Error(`${this.file}: step ${step} is not a non-negative integer`);
    if (entries.length) this.append(scalarsEvent(wallTime, step, entries));
  }

  /** Flushes the file to disk and closes it (idempotent). */
  close(): void {
    this.closed = true;
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  private append(event: Uint8Array): void {
    if (this.closed) throw new Error(`${this.file ?? this.dir}: the event file is closed`);
    if (this.fd === null) this.open();
    this.write(event);
  }

  private open(): void {
    ensureDir(this.dir);
    const seconds = String(Math.floor(Date.now() / 1000)).padStart(10, '0');
    const file = path.join(this.dir, `events.out.tfevents.${seconds}.${os.hostname()}.${process.pid}.${filesOpened++}`);
    try {
      this.fd = fs.openSync(file, 'wx');
    } catch (e) {
      throw this.failure(file, e);
    }
    this.file = file;
    this.write(fileVersionEvent(Date.now() / 1000));
  }

  private write(event: Uint8Array): void {
    const record = frameRecord(event);
    try {
      let written = 0;
      while (written < record.byteLength) written += fs.writeSync(this.fd!, record, written, record.byteLength - written);
    } catch (e) {
      throw this.failure(this.file!, e);
    }
  }

  private failure(file: string, e: unknown): UserError {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    return new UserError(`${file}: cannot write the TensorBoard event file (${code}); free space or fix the folder's permissions, then run the same command again to resume`);
  }
}
