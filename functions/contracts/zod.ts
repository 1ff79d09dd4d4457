/**
 * The schema library of everything a Lambda loads: zod's functional `zod/mini` build, whose
 * checks tree-shake, with zod's English messages. Classic `zod` is 444 KiB of the inference
 * bundle's 1.3 MiB (its methods hang off prototypes, so esbuild keeps them all) and V8 compiles
 * every byte of a bundle at cold start. Tools that never ship in a Lambda (the CLI, the config
 * loader) may keep classic zod; the two build on one core and parse each other's schemas.
 */
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

// zod/mini loads no locale, and without one every message is "Invalid input".
config(en());

// Imported as a namespace (`import * as z`): esbuild drops what is not used only from a
// namespace it can see every use of, never from zod's own `z` object.
export * from 'zod/mini';
