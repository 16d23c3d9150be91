export { startDashboard, type DashboardOptions, type RunningDashboard } from './server.js'
export { MIN_TOKEN_LENGTH } from './auth.js'
export type { FileDetailView, FileSummaryView, NodeView, SummaryView } from './models.js'
