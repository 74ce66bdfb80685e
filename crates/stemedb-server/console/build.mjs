// Bundles src/ into one minified ES module with the locked esbuild (run by build.sh). The
// TypeScript SDK's signing.ts is bundled from its source; every package it or we import is
// resolved from this directory, so the bundle is the same whether or not clients/typescript
// has node_modules of its own (else it could hold two copies and differ between machines).
import { build } from "esbuild";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];

const packagesFromHere = {
  name: "packages-from-here",
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData === "here") return undefined;
      const found = await b.resolve(args.path, { resolveDir: here, kind: args.kind, pluginData: "here" });
      return found.errors.length ? { errors: found.errors } : { path: found.path };
    });
  },
};

await build({
  entryPoints: [`${here}/src/main.js`],
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2022",
  legalComments: "none",
  charset: "utf8",
  logLevel: "warning",
  outfile: out,
  plugins: [packagesFromHere],
});
