/**
 * Ctrl-C during a training command: say what was kept and how to continue, instead of stopping without a
 * word. Every completed epoch is already on disk (checkpoint.safetensors, written atomically), so the
 * process can exit at once; run-folder locks are released by their exit handlers.
 */
export function sayHowToResumeOnInterrupt(out: string): () => void {
  const argv = process.argv.slice(2);
  const again = ['mpl', ...argv.map(quote), ...(argv.includes('--resume') ? [] : ['--resume'])].join(' ');
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((signal) => {
    const h = () => {
      process.stderr.write(
        `\nmpl: interrupted (${signal}). Completed epochs are kept in the checkpoint.safetensors of each run folder under ${out}; to continue from the last one: ${again}\n`,
      );
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.once(signal, h);
    return [signal, h] as const;
  });
  return () => handlers.forEach(([signal, h]) => process.removeListener(signal, h));
}

/** A shell word as typed: quoted when it holds anything but plain characters. */
function quote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
