/** Writes docs/models.md from the built-in catalogue (`npm run docs:models`). */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { BUILTIN_MODELS } from '../src/core/catalog.js';
import { renderModelsDoc } from '../src/core/models/doc.js';

const file = path.resolve(import.meta.dirname, '..', 'docs', 'models.md');
writeFileSync(file, renderModelsDoc(BUILTIN_MODELS));
console.log(`wrote ${file}`);
