// Bundles the extension (and, with --tests, the unit tests) with esbuild.
//   node build.mjs               dist/extension.js with source maps
//   node build.mjs --production  minified, for the .vsix
//   node build.mjs --tests       dist-test/*.test.js for `node --test`
import * as esbuild from 'esbuild';
import { readdirSync } from 'node:fs';

const production = process.argv.includes('--production');

if (process.argv.includes('--tests')) {
  const tests = readdirSync('test').filter(f => f.endsWith('.test.ts')).map(f => `test/${f}`);
  await esbuild.build({
    entryPoints: tests, outdir: 'dist-test', bundle: true, platform: 'node',
    format: 'cjs', target: 'node18', sourcemap: 'inline', logLevel: 'warning',
  });
} else {
  await esbuild.build({
    entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js', bundle: true,
    platform: 'node', format: 'cjs', target: 'node18', external: ['vscode'],
    minify: production, sourcemap: !production, logLevel: 'warning',
  });
}
