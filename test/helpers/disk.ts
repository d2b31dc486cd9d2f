import { execFile } from 'node:child_process';
import { chmod, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Make a directory refuse new entries, as a read-only or failing disk would; returns the undo.
 * As a normal user: mode 0555. As root (CI), whom modes do not stop: the immutable attribute
 * (`chattr +i`, ext4 and most Linux filesystems). Throws when neither works, so a test never
 * passes without the fault.
 */
export async function makeUnwritable(dir: string): Promise<() => Promise<void>> {
  let undo: () => Promise<void>;
  if (process.getuid?.() === 0) {
    await run('chattr', ['+i', dir]);
    undo = async () => void (await run('chattr', ['-i', dir]));
  } else {
    await chmod(dir, 0o555);
    undo = () => chmod(dir, 0o755);
  }
  const probe = path.join(dir, '.writable-probe');
  const writable = await writeFile(probe, 'x').then(
    () => true,
    () => false,
  );
  if (writable) {
    await rm(probe, { force: true });
    await undo();
    throw new Error(`could not make ${dir} unwritable for the test`);
  }
  return undo;
}
