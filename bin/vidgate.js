#!/usr/bin/env node
import('../dist/cli/index.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli')) {
    console.error('vidgate is not built yet: run `npm run build` (npm install does it for you).');
    process.exit(1);
  }
  throw err;
});
