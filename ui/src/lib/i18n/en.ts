// English UI strings. Every key must exist in zh-CN.ts too (the type there enforces it).
export const en = {
  'app.title': 'QCAT Console',
  'nav.label': 'Main navigation',
  'nav.dashboard': 'Dashboard',
  'nav.alerts': 'Alerts',
  'nav.backups': 'Backups',
  'nav.access': 'Access',
  'nav.audit': 'Audit',
  'nav.logs': 'Logs',
  'nav.settings': 'Settings',
  'nav.about': 'About',
  'nav.shortcut': 'Ctrl+{n}',

  'empty.notYet': 'Not built yet',
  'dashboard.title': 'Dashboard',
  'dashboard.empty':
    'Live panels for the trading system will appear here: host CPU, memory, disk and network; PostgreSQL connections, commits and cache hit ratio; Redis memory, clients and ops/s; request rate, error rate and P50/P95/P99 latency, each against its learned baseline.',
  'alerts.title': 'Alerts',
  'alerts.empty':
    'Firing, pending and resolved alerts will appear here, with routing, silences, inhibitions and a per-channel delivery history (e-mail, SMS, DingTalk, Slack, WeCom, Feishu, webhooks).',
  'backups.title': 'Backups',
  'backups.empty':
    'Recovery points of PostgreSQL, Redis and configuration will be listed here, with verification coverage, retention, schedules and the guided restore wizard.',
  'access.title': 'Access',
  'access.empty':
    'Users, roles with inheritance and the permission matrix will be edited here, with a “why can this user do X?” explainer.',
  'audit.title': 'Audit',
  'audit.empty':
    'The tamper-evident audit trail will be searchable here: who did what, when, from where, with what result, and the before/after of each change.',
  'logs.title': 'Logs',
  'logs.empty':
    'A live tail of the console’s structured logs will appear here, filterable by level, target and text, including rotated and compressed files.',
  'settings.title': 'Settings',
  'settings.appearance': 'Appearance',
  'settings.language': 'Language',
  'settings.language.auto': 'Follow the system',
  'settings.theme': 'Theme',
  'settings.theme.auto': 'Follow the system',
  'settings.theme.light': 'Light',
  'settings.theme.dark': 'Dark',
  'settings.configuration': 'Configuration',
  'settings.configuration.empty':
    'The effective configuration will be shown here per key: its value (secrets masked), the layer it came from and what it shadowed.',

  'status.storage': 'Storage',
  'status.backend.sqlite': 'SQLite (embedded)',
  'status.backend.postgres': 'PostgreSQL (team)',
  'status.health.healthy': 'healthy',
  'status.health.unreachable': 'unreachable',
  'status.health.failed': 'failed',
  'status.health.checking': 'checking…',
  'status.schema': 'schema v{version}',
  'status.roundTrip': '{ms} ms',
  'status.environment.development': 'development',
  'status.environment.staging': 'staging',
  'status.environment.production': 'production',

  'about.title': 'About QCAT Console',
  'about.version': 'Version',
  'about.dataDir': 'Data folder',
  'about.dataDirSource': 'Chosen by',
  'about.dataDirSource.environment': 'QCAT_DATA_DIR',
  'about.dataDirSource.platform': 'the operating system’s app-data folder',
  'about.dataDirSource.explicit': 'the caller',
  'about.environment': 'Environment',
  'about.close': 'Close',

  'error.title': 'Something went wrong',
  'error.retry': 'Try again',
  'error.code.internal': 'Internal error',
  'error.code.invalid_input': 'Invalid input',
  'error.code.invalid_config': 'Invalid configuration',
  'error.code.not_found': 'Not found',
  'error.code.conflict': 'Conflict',
  'error.code.storage_unavailable': 'Storage unavailable',
  'error.code.storage_schema': 'Storage schema problem',
  'error.code.unauthenticated': 'Not logged in',
  'error.code.permission_denied': 'Permission denied',
} as const;

export type MessageKey = keyof typeof en;
