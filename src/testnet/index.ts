/**
 * Local testnets: `batchain testnet up|status|down` starts, inspects and stops bootstrap and storage
 * node processes and the jobs processes (Redis, worker, scheduler, dashboard) in a directory
 * (supervisor.ts), recorded in DIR/testnet.json (state.ts) with the bootstraps' DHT addresses in
 * DIR/bootstrap.txt (testnetBootstraps) and the Redis URL in DIR/redis.url (testnetRedisUrl) for clients.
 */
export { createTestnetSupervisor, type DownReport, type ProcessStatus, type StopOutcome, type StopResult, type TestnetStatus, type TestnetSupervisor, type TestnetSupervisorOptions } from './supervisor.js'
export { planTestnet, DEFAULT_TESTNET_GRACE, MAX_TESTNET_BOOTSTRAPS, MAX_TESTNET_NODES, TESTNET_REDIS_HOST, type TestnetJobsOptions, type TestnetPlanOptions } from './plan.js'
export { KINDS, SCHEDULER_LEADER_KEY, kindOf, type LaunchContext, type PlannedProcess, type ProcessKind } from './kinds.js'
export { loadTestnet, saveTestnet, testnetBootstraps, testnetRedisUrl, testnetDirFrom, statePath, bootstrapPath, redisUrlPath, TESTNET_DIR_ENV } from './state-file.js'
export {
  BOOTSTRAP_FILE, REDIS_URL_FILE, STATE_FILE, TESTNET_STATE_VERSION,
  type BootstrapProcess, type DashboardProcess, type ProcessRole, type RedisProcess, type SchedulerProcess, type StorageProcess, type TestnetProcess, type TestnetState, type WorkerProcess
} from './state.js'
export { isProcessAlive, processStartTime } from './liveness.js'
