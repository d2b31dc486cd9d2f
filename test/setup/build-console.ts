import { buildConsole } from '../../web/build.js';

/** vitest globalSetup: build the console (web/src → web/dist) once, so every test serves the current source. */
export default async function setup(): Promise<void> {
  await buildConsole();
}
