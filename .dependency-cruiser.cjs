/**
 * dependency-cruiser: import cycles and the layering of docs ARCHITECTURE.md ("arrows point to what a
 * folder may import"). Run with `npm run cycles` (depcruise --config .dependency-cruiser.cjs src).
 *
 * Every folder may import src/core. Type-only imports count (tsPreCompilationDeps): a layer that needs
 * another layer's types depends on it.
 */

/**
 * Folder → folders of src/ it may import (besides itself and core). Folders not listed here
 * (new ones) are unrestricted except for the global rules below: add them when they appear.
 * cli is intentionally absent: it may import anything, and nothing may import it.
 */
const layers = {
  core: [],
  crypto: [],
  erasure: [],
  manifest: ['crypto'],
  protocol: [],
  store: ['crypto'],
  transfer: ['protocol', 'store', 'crypto'],
  dht: ['crypto'],
  nat: ['crypto', 'protocol', 'transfer', 'dht'],
  node: ['crypto', 'store', 'protocol', 'transfer', 'dht', 'nat'],
  client: ['crypto', 'erasure', 'manifest', 'protocol', 'transfer', 'dht'],
  testnet: ['crypto', 'dht', 'transfer', 'protocol'],
  jobs: ['client', 'dht', 'crypto', 'erasure', 'manifest', 'transfer'],
  controller: ['jobs'],
  operator: ['crypto', 'jobs', 'client'],
  dashboard: ['jobs']
}

const layerRules = Object.entries(layers).map(([layer, allowed]) => {
  const mayImport = layer === 'core' ? ['core'] : ['core', layer, ...allowed]
  return {
    name: `layer-${layer}`,
    comment: layer === 'core'
      ? 'src/core imports nothing of ours (ARCHITECTURE.md)'
      : `src/${layer} may import only: ${[...new Set(mayImport)].join(', ')} (ARCHITECTURE.md)`,
    severity: 'error',
    from: { path: `^src/${layer}/` },
    to: {
      path: '^src/',
      // cli is reported by no-import-cli
      pathNot: `^src/(${[...new Set([...mayImport, 'cli'])].join('|')})/`
    }
  }
})

const optionalDeps = Object.keys(require('./package.json').optionalDependencies ?? {})
function escapeRe (s) { return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&') }

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'Import cycles make initialisation order fragile and layers meaningless.',
      severity: 'error',
      from: {},
      to: { circular: true }
    },
    {
      name: 'no-import-cli',
      comment: 'src/cli is argument parsing and output only: nothing else imports it.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' }
    },
    {
      name: 'no-src-to-tests-or-bench',
      comment: 'Production code must not import test helpers, tests or benchmarks.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' }
    },
    {
      name: 'no-unresolvable',
      comment: 'An import that does not resolve: a typo, a wrong suffix, or a package missing from ' +
        'package.json / node_modules. Optional dependencies may be absent (failed native build).',
      severity: 'error',
      from: {},
      to: optionalDeps.length > 0
        ? { couldNotResolve: true, pathNot: `^(${optionalDeps.map(escapeRe).join('|')})(/|$)` }
        : { couldNotResolve: true }
    },
    {
      name: 'no-dev-deps-in-src',
      comment: 'src/ ships to users: it must not import devDependencies at run time.',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] }
    },
    {
      name: 'no-undeclared-deps',
      comment: 'An npm package imported by src/ but not declared in package.json.',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] }
    },
    {
      name: 'no-deprecated-core',
      comment: 'Deprecated Node core modules.',
      severity: 'warn',
      from: {},
      to: { dependencyTypes: ['core'], path: '^(punycode|domain|constants|sys|_linklist|_stream_wrap)$' }
    },
    ...layerRules
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|coverage)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    combinedDependencies: false,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json']
    },
    reporterOptions: {
      text: { highlightFocused: true }
    }
  }
}
