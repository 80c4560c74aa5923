/**
 * The sha256 of a weights file, the identity of a backbone beyond its architecture: two CLIPs of the same shape
 * (another fine-tune, another checkpoint) have other digests. Prompts record the digest of the weights they were
 * trained on, and a prompt package refuses to run on weights with another (src/packages/backbone.ts).
 * Hashing ViT-B/16 (600 MB) takes about a second, so a process hashes each file once (same path, size and
 * modification time).
 */
import * as fs from 'node:fs';
import { hashFile } from './download.js';

const memo = new Map<string, Promise<string>>();

export function weightsSha256(file: string): Promise<string> {
  const real = fs.realpathSync(file);
  const st = fs.statSync(real);
  const key = `${real}\0${st.size}\0${st.mtimeMs}`;
  let digest = memo.get(key);
  if (!digest) {
    digest = hashFile(real, 'sha256');
    memo.set(key, digest);
    digest.catch(() => memo.delete(key));
  }
  return digest;
}
