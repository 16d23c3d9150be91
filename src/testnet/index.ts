/**
 * Local testnets: `batchain testnet up|status|down` starts, inspects and stops bootstrap and storage
 * node processes in a directory (supervisor.ts), recorded in DIR/testnet.json (state.ts) with the
 * bootstraps' DHT addresses in DIR/bootstrap.txt for clients (testnetBootstraps).
 */
export { createTestnetSupervisor, type DownReport, type ProcessStatus, type StopOutcome, type StopResult, type TestnetStatus, type TestnetSupervisor, type TestnetSupervisorOptions } from './supervisor.js'
export { planTestnet, MAX_TESTNET_BOOTSTRAPS, MAX_TESTNET_NODES, type TestnetPlanOptions } from './plan.js'
export { KINDS, kindOf, type LaunchContext, type PlannedProcess, type ProcessKind } from './kinds.js'
export { loadTestnet, saveTestnet, testnetBootstraps, testnetDirFrom, statePath, bootstrapPath, TESTNET_DIR_ENV } from './state-file.js'
export { BOOTSTRAP_FILE, STATE_FILE, TESTNET_STATE_VERSION, type BootstrapProcess, type ProcessRole, type StorageProcess, type TestnetProcess, type TestnetState } from './state.js'
export { isProcessAlive, processStartTime } from './liveness.js'
