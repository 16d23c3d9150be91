#!/usr/bin/env node
// The CLI is compiled to dist/ by `npm ci` (the `prepare` script); this shim keeps the bin path stable.
import '../dist/cli/main.js';
