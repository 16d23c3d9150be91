'use strict'
// BatChain stub for 'dtrace-provider' (vendor/stubs/README.md). bunyan requires it inside a
// try/catch and runs without DTrace probes when the require throws, as on any machine where the
// native addon did not build.
throw new Error("'dtrace-provider' is a BatChain install-time stub (vendor/stubs/README.md)")
