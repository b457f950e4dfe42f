// Plaintext that must not sit whole in memory — a received file, a decrypted recording —
// written to a file of the origin private file system (OPFS), which becomes a File to save or
// play only once it is complete and checked, and is deleted otherwise.

/** Names of the files this tab keeps in the origin private file system. */
const OPFS_PREFIX = 'sealroom-file-';

/** Where a download's plaintext goes: a file in the origin private file system, so a large
 *  file never sits whole in memory; in memory only where the browser offers no such storage.
 *  `kept` names the files made, for their owner to delete when it leaves. */
export class OpfsFile {
  private readonly memory: Uint8Array[] = [];

  private constructor(
    private readonly stored: Set<string>,
    private readonly file: { name: string; dir: FileSystemDirectoryHandle; handle: FileSystemFileHandle; writable: FileSystemWritableFileStream } | null,
  ) {}

  static async create(stored: Set<string> = new Set()): Promise<OpfsFile> {
    try {
      const dir = await navigator.storage.getDirectory();
      const name = `${OPFS_PREFIX}${crypto.randomUUID()}`;
      const handle = await dir.getFileHandle(name, { create: true });
      stored.add(name);
      return new OpfsFile(stored, { name, dir, handle, writable: await handle.createWritable() });
    } catch {
      return new OpfsFile(stored, null);
    }
  }

  async write(plaintext: Uint8Array): Promise<void> {
    if (this.file) await this.file.writable.write(plaintext as BufferSource);
    else this.memory.push(plaintext);
  }

  /** The whole file, checked, under its offered name and type. */
  async close(name: string, mime: string): Promise<Blob> {
    if (!this.file) return new File(this.memory as BlobPart[], name, { type: mime });
    await this.file.writable.close();
    return this.file.handle.getFile();
  }

  async discard(): Promise<void> {
    this.memory.length = 0;
    if (!this.file) return;
    await this.file.writable.abort().catch(() => undefined);
    await this.file.dir.removeEntry(this.file.name).catch(() => undefined);
    this.stored.delete(this.file.name);
  }

  static async deleteAll(stored: Set<string>): Promise<void> {
    const dir = await navigator.storage.getDirectory().catch(() => null);
    for (const name of stored) await dir?.removeEntry(name).catch(() => undefined);
    stored.clear();
  }
}
