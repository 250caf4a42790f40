// The control plane: one behaviour for every front (CLI, HTTP API, dashboard). The shard worker
// runtime is the `./worker` subpath.
export {
  type ControlConfig,
  type ControlContext,
  closeControl,
  openControl,
  withControl,
} from './context.js';
export {
  cancelRun,
  pauseAllRuns,
  pauseRun,
  recoverRun,
  requireRun,
  resumeRun,
  retryShards,
  setRunSettings,
  validRunSettings,
} from './controls.js';
export { type FinalizeResult, finalizeRun } from './finalize.js';
export * from './queue/index.js';
export { clearFinishedQueue, type ReconcileReport, reconcileAll, reconcileRun } from './reconcile.js';
export { type StartOptions, type StartResult, startRun } from './start.js';
export {
  type RunStatusReport,
  type RunView,
  readAllRunStatuses,
  readRunStatus,
  rowsPerSecondLastMinute,
  rowsPerSecondSeries,
  runView,
} from './status.js';
