/**
 * Small pieces of a received file transfer: a chunk's length, the info a `fileData` event
 * carries (its data joined only when read), and the name a file is written under.
 */
import path from 'node:path';
import type { FileDataInfo } from '../events.js';

export function byteLength(data: Buffer | readonly Buffer[]): number {
  if (Buffer.isBuffer(data)) return data.length;
  let n = 0;
  for (const piece of data) n += piece.length;
  return n;
}

/** A fileData event's info; data given as views is joined when (if ever) it is read. */
export function dataInfo(fileId: number, name: string, size: number, offset: number, data: Buffer | readonly Buffer[], bytes: number): FileDataInfo {
  if (Buffer.isBuffer(data)) return { fileId, name, offset, size, data };
  return new ViewsDataInfo(fileId, name, offset, size, data, bytes);
}

/** FileDataInfo whose data arrived as views: joined on first read (a class accessor: one hidden class for all). */
class ViewsDataInfo implements FileDataInfo {
  #joined: Buffer | undefined;
  readonly #views: readonly Buffer[];
  readonly #bytes: number;
  constructor(
    readonly fileId: number,
    readonly name: string,
    readonly offset: number,
    readonly size: number,
    views: readonly Buffer[],
    bytes: number,
  ) {
    this.#views = views;
    this.#bytes = bytes;
  }

  get data(): Buffer {
    return (this.#joined ??= Buffer.concat(this.#views, this.#bytes));
  }
}

/** A file name safe to create inside a folder: no directories, no dot-names. */
export function safeName(name: string): string {
  const base = path.basename(name.replace(/\\/g, '/')).replace(/[\u0000-\u001f<>:"|?*]/g, '_');
  return !base || base === '.' || base === '..' ? 'file' : base;
}
