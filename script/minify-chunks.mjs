// ncc minifies only the entry file; the chunks it splits off for dynamic
// imports (the Kubernetes client, ~19 MB) stay as written. Minify them too so
// the committed dist/ stays small and loads fast.
import fs from 'node:fs';
import path from 'node:path';
import { minify } from 'terser';

const dist = path.resolve(process.argv[2] ?? 'dist');
for (const name of fs
  .readdirSync(dist)
  .filter((f) => /^\d+\.index\.js$/.test(f))
  .sort()) {
  const file = path.join(dist, name);
  const before = fs.statSync(file).size;
  const result = await minify(fs.readFileSync(file, 'utf8'), {
    module: true,
    compress: true,
    mangle: true,
  });
  fs.writeFileSync(file, result.code);
  console.log(
    `${name}: ${(before / 1e6).toFixed(1)} MB -> ${(fs.statSync(file).size / 1e6).toFixed(1)} MB`,
  );
}
