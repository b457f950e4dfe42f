// How the page fetches what it runs beside its own script, each against the hash the build
// compiled in: the e2ee core's WebAssembly module (the page and the frame worker), and the
// frame worker's script.

/** The module's Subresource Integrity hash (sha384), written in by build.mjs from the file it
 *  ships beside this script. */
declare const SEALROOM_WASM_INTEGRITY: string;

/** A request for the module that the browser fails unless the bytes hash to what the build
 *  shipped: a server cannot swap the module under a script it served. */
export function wasmModuleRequest(url: string | URL): Request {
  return new Request(url, { integrity: SEALROOM_WASM_INTEGRITY });
}

/** The frame worker's script's Subresource Integrity hash, written in by build.mjs. */
declare const SEALROOM_WORKER_INTEGRITY: string;

/** Starts the frame worker from its script, fetched against its integrity hash (a browser takes
 *  no integrity for `new Worker(url)`): the worker runs from those verified bytes, as a blob. */
export async function startFrameWorker(url: string): Promise<Worker> {
  const response = await fetch(url, { integrity: SEALROOM_WORKER_INTEGRITY });
  const script = new Blob([await response.arrayBuffer()], { type: 'text/javascript' });
  const blobUrl = URL.createObjectURL(script);
  const worker = new Worker(blobUrl, { type: 'module', name: 'sealroom-e2ee' });
  worker.addEventListener('message', () => URL.revokeObjectURL(blobUrl), { once: true });
  return worker;
}
