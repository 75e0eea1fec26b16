// The only module that imports @tauri-apps/*. Everything else calls the typed `api` below,
// so the UI can be tested with mocked IPC and the wire format lives in one place.
import { invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import { isPermissionGranted, requestPermission, sendNotification } from '@tauri-apps/plugin-notification';
import type {
  AlertView,
  DeliveryLog,
  RoutePreview,
  RoutingView,
  RulePreview,
  RuleSpec,
  RuleView,
  SilenceInput,
  SilenceView,
  TestSendResult,
  BandView,
  BaselineStatusView,
  CaptureInput,
  CompareInput,
  ComparisonView,
  DeviationEventView,
  MarkInput,
  MarkView,
  NamedBaselineView,
  ReportFile,
  BackupPolicyInput,
  BackupPolicyView,
  BackupRestoreInput,
  BackupRunInput,
  BackupView,
  ExpireView,
  RestorePlanView,
  CheckView,
  OverviewView,
  QueryInput,
  SeriesView,
  TargetInput,
  TargetView,
  JobStarted,
  JobView,
  LiveEvent,
  RuntimeStatus,
  ScheduleView,
  AccessExplanation,
  AccessModel,
  ApiError,
  AppInfo,
  AuditEntryView,
  AuditExportInput,
  AuditFilterInput,
  AuditQuery,
  LoginInput,
  NewUserInput,
  PasswordInput,
  RoleChange,
  RoleInput,
  RoleView,
  SessionView,
  SetupStatus,
  UserView,
  Commands,
  ConfigView,
  ErrorCode,
  FrontendLog,
  LogFile,
  LogLine,
  LogQuery,
  NamedSecretInput,
  SettingChange,
  StorageStatus,
} from '../gen/api';
import { ERROR_CODES } from '../gen/api';

export type * from '../gen/api';

/** An API failure: `code` is from the one error-code table; branch on it, never on text. */
export class IpcError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'IpcError';
    this.code = code;
  }
}

/** Any caught value as an IpcError (what `call` rejects with, or an unexpected throw). */
export function toIpcError(err: unknown): IpcError {
  return err instanceof IpcError ? err : new IpcError('internal', String(err));
}

/** Runs `action`; resolves to the error it failed with, or null when it succeeded. For
 *  screens that show the last failure: `failure = await attempt(() => api.x())`. */
export async function attempt(action: () => Promise<unknown>): Promise<IpcError | null> {
  try {
    await action();
    return null;
  } catch (err) {
    return toIpcError(err);
  }
}

function isApiError(value: unknown): value is ApiError {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return (
    typeof candidate.message === 'string' &&
    (ERROR_CODES as readonly unknown[]).includes(candidate.code)
  );
}

let sessionLost: (() => void) | null = null;

/** Called whenever the core answers `unauthenticated` (expired, signed out, disabled), so
 *  the window can return to the sign-in screen. */
export function onSessionLost(listener: (() => void) | null): void {
  sessionLost = listener;
}

/** Calls a registered command; rejects with an IpcError. */
export async function call<K extends keyof Commands>(
  command: K,
  args?: Commands[K]['args'],
): Promise<Commands[K]['returns']> {
  try {
    return await invoke<Commands[K]['returns']>(command, args ?? {});
  } catch (raw) {
    if (isApiError(raw)) {
      if (raw.code === 'unauthenticated' && command !== 'login') sessionLost?.();
      throw new IpcError(raw.code, raw.message);
    }
    throw new IpcError('internal', typeof raw === 'string' ? raw : String(raw));
  }
}

export const api = {
  appInfo: (): Promise<AppInfo> => call('app_info'),
  storageStatus: (): Promise<StorageStatus> => call('storage_status'),
  configSettings: (): Promise<ConfigView> => call('config_settings'),
  setSetting: (key: string, value: string): Promise<SettingChange> => call('set_setting', { key, value }),
  logFiles: (): Promise<LogFile[]> => call('log_files'),
  logLines: (query: LogQuery): Promise<LogLine[]> => call('log_lines', { query }),
  logFrontend: (entry: FrontendLog): Promise<null> => call('log_frontend', { entry }),
  namedSecrets: (): Promise<string[]> => call('named_secrets'),
  setNamedSecret: (input: NamedSecretInput): Promise<null> => call('set_named_secret', { input }),
  setupStatus: (): Promise<SetupStatus> => call('setup_status'),
  createFirstAdmin: (input: NewUserInput): Promise<SessionView> => call('create_first_admin', { input }),
  login: (input: LoginInput): Promise<SessionView> => call('login', { input }),
  logout: (): Promise<null> => call('logout'),
  currentSession: (): Promise<SessionView | null> => call('current_session'),
  changePassword: (input: PasswordInput): Promise<null> => call('change_password', { input }),
  accessModel: (): Promise<AccessModel> => call('access_model'),
  explainAccess: (username: string, permission: string): Promise<AccessExplanation> =>
    call('explain_access', { username, permission }),
  saveRole: (input: RoleInput): Promise<RoleView> => call('save_role', { input }),
  /** One change to a role, as of the `AccessModel.version` the window shows: on a stale view
   *  the core refuses with `conflict` instead of undoing someone else's change. */
  editRole: (role: string, change: RoleChange, seenVersion: number): Promise<RoleView> =>
    call('edit_role', { role, change, seenVersion }),
  deleteRole: (name: string, seenVersion: number): Promise<null> => call('delete_role', { name, seenVersion }),
  createUser: (input: NewUserInput): Promise<UserView> => call('create_user', { input }),
  setUserRoles: (username: string, roles: string[], seenVersion: number): Promise<UserView> =>
    call('set_user_roles', { username, roles, seenVersion }),
  setUserEnabled: (username: string, enabled: boolean, seenVersion: number): Promise<UserView> =>
    call('set_user_enabled', { username, enabled, seenVersion }),
  auditPage: (query: AuditQuery): Promise<AuditEntryView[]> => call('audit_page', { query }),
  auditCount: (filter: AuditFilterInput): Promise<number> => call('audit_count', { filter }),
  /** Starts the verification job; its result is an AuditVerifyReport (see `runJob`). */
  auditVerify: (): Promise<JobStarted> => call('audit_verify'),
  /** Starts the export job; its result is an ExportedFile. */
  auditExportFile: (input: AuditExportInput): Promise<JobStarted> => call('audit_export_file', { input }),
  jobCancel: (id: string): Promise<null> => call('job_cancel', { input: { id } }),
  jobsRecent: (): Promise<JobView[]> => call('jobs_recent'),
  schedulesList: (): Promise<ScheduleView[]> => call('schedules_list'),
  runtimeStatus: (): Promise<RuntimeStatus> => call('runtime_status'),
  monitorTargets: (): Promise<TargetView[]> => call('monitor_targets'),
  /** Send `seenVersion` (0 for a new target): a stale editor is refused with `conflict`. */
  monitorTargetSave: (input: TargetInput): Promise<TargetView> => call('monitor_target_save', { input }),
  monitorTargetRemove: (name: string): Promise<null> => call('monitor_target_remove', { input: { name } }),
  monitorTargetTest: (input: TargetInput): Promise<CheckView> => call('monitor_target_test', { input }),
  monitorQuery: (input: QueryInput): Promise<SeriesView[]> => call('monitor_query', { input }),
  monitorQuickStart: (what: 'host' | 'demo'): Promise<TargetView> => call('monitor_quick_start', { input: { what } }),
  monitorOverview: (): Promise<OverviewView> => call('monitor_overview'),
  backupList: (): Promise<BackupView[]> => call('backup_list'),
  backupShow: (id: string): Promise<BackupView> => call('backup_show', { input: { id } }),
  /** Starts a backup job; its result is the new BackupView (with `promoted`). */
  backupRun: (input: BackupRunInput): Promise<JobStarted> => call('backup_run', { input }),
  /** Starts a verify job; its result is the report (`damaged` lists each damaged chunk). */
  backupVerify: (ids: string[], rollingBudgetMs: number | null = null): Promise<JobStarted> =>
    call('backup_verify', { input: { ids, rollingBudgetMs } }),
  backupRestorePlan: (input: BackupRestoreInput): Promise<RestorePlanView> => call('backup_restore_plan', { input }),
  /** Starts a restore job; its result has the row-count check (`passed`, `tables`). */
  backupRestore: (input: BackupRestoreInput): Promise<JobStarted> => call('backup_restore', { input }),
  backupExpire: (dryRun: boolean): Promise<ExpireView> => call('backup_expire', { input: { dryRun } }),
  /** Starts a restore drill; its result has `passed`, `withinRto`, `durationMs`, `rtoMs`. */
  backupDrill: (): Promise<JobStarted> => call('backup_drill'),
  backupPolicy: (): Promise<BackupPolicyView> => call('backup_policy'),
  /** Saves the policy (one checked write of the config file); in force at once. */
  backupPolicySave: (input: BackupPolicyInput): Promise<BackupPolicyView> => call('backup_policy_save', { input }),
  /** Each backup's duration, bytes and outcome, restore and drill durations, verify coverage. */
  backupTrends: (fromMs: number, toMs: number): Promise<SeriesView[]> => call('backup_trends', { input: { fromMs, toMs } }),
  /** One series with the band its learned baseline held it to, its deviations and marks. */
  baselineBand: (series: string, sinceMs: number, untilMs: number, maxPoints = 600): Promise<BandView> =>
    call('baseline_band', { input: { series, sinceMs, untilMs, maxPoints } }),
  baselineStatus: (): Promise<BaselineStatusView> => call('baseline_status'),
  baselineEvents: (sinceMs: number, untilMs: number, series: string | null = null): Promise<DeviationEventView[]> =>
    call('baseline_events', { input: { sinceMs, untilMs, series, limit: null } }),
  baselineMarks: (sinceMs: number, untilMs: number): Promise<MarkView[]> => call('baseline_marks', { input: { sinceMs, untilMs } }),
  baselineMark: (input: MarkInput): Promise<MarkView> => call('baseline_mark', { input }),
  baselineUnmark: (id: string): Promise<null> => call('baseline_unmark', { id }),
  baselineList: (): Promise<NamedBaselineView[]> => call('baseline_list'),
  baselineCapture: (input: CaptureInput): Promise<NamedBaselineView> => call('baseline_capture', { input }),
  baselineRemove: (name: string): Promise<null> => call('baseline_remove', { name }),
  baselineCompare: (input: CompareInput): Promise<ComparisonView> => call('baseline_compare', { input }),
  /** Writes the comparison report (HTML with its charts) to the data dir's exports folder. */
  baselineReport: (compare: CompareInput, language: string): Promise<ReportFile> =>
    call('baseline_report', { input: { compare, language } }),
  alertFiring: (): Promise<AlertView[]> => call('alert_firing'),
  alertHistory: (fromMs: number | null = null, toMs: number | null = null): Promise<AlertView[]> =>
    call('alert_history', { input: { fromMs, toMs, limit: null } }),
  alertRules: (): Promise<RuleView[]> => call('alert_rules'),
  alertRuleSave: (rule: RuleSpec, seenVersion: number | null): Promise<RuleView> =>
    call('alert_rule_save', { input: { rule, seenVersion } }),
  alertRuleRemove: (name: string): Promise<null> => call('alert_rule_remove', { input: { name } }),
  /** When the rule would have fired over the last 24 hours of stored data. */
  alertRulePreview: (rule: RuleSpec, hours: number | null = null): Promise<RulePreview> =>
    call('alert_rule_preview', { input: { rule, hours } }),
  alertRouting: (): Promise<RoutingView> => call('alert_routing'),
  /** Saves (imports) an alertmanager.yml; literal credentials move into the keychain. */
  alertRoutingSave: (yaml: string, seenVersion: number): Promise<RoutingView> =>
    call('alert_routing_save', { input: { yaml, seenVersion } }),
  /** The routing simulator: receivers and each message as its channel will show it. */
  alertRoutePreview: (
    labels: Record<string, string>,
    annotations: Record<string, string> = {},
    yaml: string | null = null,
  ): Promise<RoutePreview[]> => call('alert_route_preview', { input: { labels, annotations, yaml } }),
  alertTestSend: (receiver: string, labels: Record<string, string> = {}): Promise<TestSendResult[]> =>
    call('alert_test_send', { input: { receiver, labels, annotations: {} } }),
  alertSilences: (): Promise<SilenceView[]> => call('alert_silences'),
  alertSilenceAdd: (input: SilenceInput): Promise<SilenceView> => call('alert_silence_add', { input }),
  alertSilenceExpire: (id: string): Promise<null> => call('alert_silence_expire', { input: { id } }),
  alertDeliveries: (sinceMs: number | null = null): Promise<DeliveryLog> =>
    call('alert_deliveries', { input: { sinceMs, limit: null } }),
  alertDeliveryRetry: (key: string): Promise<null> => call('alert_delivery_retry', { input: { key } }),
};

/** A desktop notification (CRITICAL alerts while the window is open). Permission is asked
 *  once; where the desktop has no notification service the call fails quietly — the
 *  window's own banner still shows the alert. */
export async function desktopNotify(title: string, body: string): Promise<boolean> {
  try {
    let granted = await isPermissionGranted();
    if (!granted) granted = (await requestPermission()) === 'granted';
    if (!granted) return false;
    sendNotification({ title, body });
    return true;
  } catch {
    return false;
  }
}

/** Forwards the UI's uncaught errors and rejections into the console's log (target qcat_ui),
 *  so they sit next to the core's lines. Forwarding failures are dropped: logging must never
 *  cause another error loop. */
export function forwardUncaughtErrors(target: Window = window): void {
  const send = (message: string, context: string | null): void => {
    void api.logFrontend({ level: 'error', message, context }).catch(() => undefined);
  };
  target.addEventListener('error', (event) => {
    send(event.message || String(event.error), event.error instanceof Error ? (event.error.stack ?? null) : null);
  });
  target.addEventListener('unhandledrejection', (event) => {
    const reason: unknown = event.reason;
    send(reason instanceof Error ? reason.message : String(reason), reason instanceof Error ? (reason.stack ?? null) : null);
  });
}

/** The live event topics the core pushes (see `LiveEvent`). */
export type Topic = LiveEvent['topic'];
export type EventOf<T extends Topic> = Extract<LiveEvent, { topic: T }>;

/** Calls `handler` with each batch of `topic`'s events until the returned function is
 *  called. The core batches hot topics; a batch is never empty. */
export function onLive<T extends Topic>(topic: T, handler: (events: EventOf<T>[]) => void): () => void {
  let stopped = false;
  let unlisten: (() => void) | null = null;
  listen<EventOf<T>[]>(topic, (event) => {
    if (!stopped) handler(event.payload);
  })
    .then((stop) => {
      if (stopped) stop();
      else unlisten = stop;
    })
    .catch((err: unknown) => console.warn(`cannot listen for ${topic}`, err));
  return () => {
    stopped = true;
    unlisten?.();
  };
}

/** A job being watched: its id once started, and how it ended. */
export interface WatchedJob {
  id: Promise<string>;
  ended: Promise<JobView>;
}

/** Starts a job with `start` and reports its progress (at most ten times a second) until
 *  it ends. Listens before starting, so no report is missed. */
export function runJob(start: () => Promise<JobStarted>, progress: (job: JobView) => void): WatchedJob {
  let settle: (job: JobView) => void = () => {};
  let fail: (err: unknown) => void = () => {};
  const ended = new Promise<JobView>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  const early: JobView[] = [];
  let jobId: string | null = null;
  const seen = (job: JobView): void => {
    progress(job);
    if (job.state !== 'running') {
      stop();
      settle(job);
    }
  };
  const stop = onLive('jobs://progress', (events) => {
    for (const event of events) {
      if (jobId === null) early.push(event.job);
      else if (event.job.id === jobId) seen(event.job);
    }
  });
  const id = start().then(
    (started) => {
      jobId = started.id;
      for (const job of early.splice(0)) if (job.id === jobId) seen(job);
      return started.id;
    },
    (err: unknown) => {
      stop();
      fail(err);
      throw err;
    },
  );
  id.catch(() => {});
  return { id, ended };
}

/** A job's result when it succeeded; otherwise the failure as an IpcError with the code
 *  the core failed it with (a failed job's result carries `code`). */
export async function jobResult<T>(
  start: () => Promise<JobStarted>,
  progress: (job: JobView | null) => void,
): Promise<{ result: T } | { failure: IpcError }> {
  const watched = runJob(start, progress);
  try {
    const ended = await watched.ended;
    progress(null);
    if (ended.state === 'succeeded') return { result: ended.result as T };
    const code = (ended.result as { code?: ErrorCode } | null)?.code ?? (ended.state === 'cancelled' ? 'cancelled' : 'internal');
    return { failure: new IpcError(code, ended.error ?? ended.state) };
  } catch (err) {
    progress(null);
    return { failure: toIpcError(err) };
  }
}
