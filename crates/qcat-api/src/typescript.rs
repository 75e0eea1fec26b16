//! Generates the UI's TypeScript bindings (`ui/src/lib/gen/api.ts`) from the DTOs, the error
//! code table and the command table (argument and result types from ts-rs). A test fails when the committed file differs;
//! `UPDATE_BINDINGS=1 cargo test -p qcat-api` rewrites it.

use ts_rs::{Config, TS};

use crate::{ApiError, dto};

/// The committed bindings, relative to the workspace root.
pub const BINDINGS_PATH: &str = "ui/src/lib/gen/api.ts";

/// The full text of the bindings file.
pub fn bindings() -> String {
    let cfg = Config::new().with_large_int("number");
    let mut out = String::from(
        "// Generated from crates/qcat-api by `UPDATE_BINDINGS=1 cargo test -p qcat-api`.\n\
         // Do not edit: CI fails when this file differs from what the Rust code generates.\n\n",
    );
    let codes: Vec<String> = qcat_core::ErrorCode::ALL
        .iter()
        .map(|code| format!("\"{}\"", code.as_str()))
        .collect();
    out.push_str(&format!(
        "export type ErrorCode = {};\n\n",
        codes.join(" | ")
    ));
    out.push_str(&format!(
        "export const ERROR_CODES: readonly ErrorCode[] = [{}];\n\n",
        codes.join(", ")
    ));
    let quoted = |names: Vec<String>| {
        names
            .iter()
            .map(|name| format!("\"{name}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push_str(&format!(
        "/** Every permission the core checks (the UI has a label for each). */\n\
         export const PERMISSIONS: readonly string[] = [{}];\n\n",
        quoted(
            qcat_access::catalog::CATALOG
                .iter()
                .map(|p| p.name())
                .collect()
        )
    ));
    out.push_str(&format!(
        "/** The built-in roles (the UI has a description for each). */\n\
         export const BUILTIN_ROLES: readonly string[] = [{}];\n\n",
        quoted(
            qcat_access::roles::RoleGraph::builtin()
                .roles()
                .map(|role| role.name.clone())
                .collect()
        )
    ));
    for decl in [
        ApiError::decl(&cfg),
        dto::AppInfo::decl(&cfg),
        dto::MasterKeyStatus::decl(&cfg),
        dto::DataDirSource::decl(&cfg),
        dto::Environment::decl(&cfg),
        dto::StorageBackend::decl(&cfg),
        dto::StorageHealth::decl(&cfg),
        dto::StorageStatus::decl(&cfg),
        dto::ConfigLayer::decl(&cfg),
        dto::ConfigOrigin::decl(&cfg),
        dto::ShadowedValue::decl(&cfg),
        dto::ConfigSetting::decl(&cfg),
        dto::ConfigProblem::decl(&cfg),
        dto::ConfigView::decl(&cfg),
        crate::config::ConfigCheck::decl(&cfg),
        crate::config::SettingChange::decl(&cfg),
        crate::logs::LogFile::decl(&cfg),
        crate::logs::LogQuery::decl(&cfg),
        crate::logs::LogLine::decl(&cfg),
        crate::logs::FrontendLog::decl(&cfg),
        crate::secrets::NamedSecretInput::decl(&cfg),
        crate::access::SetupStatus::decl(&cfg),
        crate::access::LoginInput::decl(&cfg),
        crate::access::NewUserInput::decl(&cfg),
        crate::access::PasswordInput::decl(&cfg),
        crate::access::SessionView::decl(&cfg),
        crate::access::UserView::decl(&cfg),
        crate::access::PermissionView::decl(&cfg),
        crate::access::RoleView::decl(&cfg),
        crate::access::AccessModel::decl(&cfg),
        crate::access::RoleInput::decl(&cfg),
        crate::access::RoleChange::decl(&cfg),
        crate::access::AccessExplanation::decl(&cfg),
        crate::audit::AuditFilterInput::decl(&cfg),
        crate::audit::AuditQuery::decl(&cfg),
        crate::audit::AuditEntryView::decl(&cfg),
        crate::audit::AuditVerifyReport::decl(&cfg),
        crate::audit::AuditExportInput::decl(&cfg),
        crate::audit::ExportedFile::decl(&cfg),
        crate::jobs::JobState::decl(&cfg),
        crate::jobs::JobView::decl(&cfg),
        crate::jobs::JobStarted::decl(&cfg),
        crate::jobs::JobIdInput::decl(&cfg),
        crate::schedules::ScheduleView::decl(&cfg),
        crate::runtime::TaskView::decl(&cfg),
        crate::monitor::TargetView::decl(&cfg),
        crate::monitor::TargetHealthView::decl(&cfg),
        crate::monitor::StatementView::decl(&cfg),
        crate::monitor::TargetInput::decl(&cfg),
        crate::monitor::TargetNameInput::decl(&cfg),
        crate::monitor::QuickStartInput::decl(&cfg),
        crate::monitor::CheckView::decl(&cfg),
        crate::monitor::CheckStepView::decl(&cfg),
        crate::monitor::QueryInput::decl(&cfg),
        crate::monitor::SeriesView::decl(&cfg),
        crate::monitor::OverviewView::decl(&cfg),
        crate::monitor::LatestValue::decl(&cfg),
        crate::backup::BackupView::decl(&cfg),
        crate::backup::BackupSourceView::decl(&cfg),
        crate::backup::BackupRunInput::decl(&cfg),
        crate::backup::BackupIdInput::decl(&cfg),
        crate::backup::BackupVerifyInput::decl(&cfg),
        crate::backup::BackupRestoreInput::decl(&cfg),
        crate::backup::RestorePlanView::decl(&cfg),
        crate::backup::BackupExpireInput::decl(&cfg),
        crate::backup::ExpireView::decl(&cfg),
        crate::backup::BackupPolicyInput::decl(&cfg),
        crate::monitor::DeviationsInput::decl(&cfg),
        crate::monitor::DeviationView::decl(&cfg),
        crate::monitor::DeviationsView::decl(&cfg),
        crate::monitor::BandInput::decl(&cfg),
        crate::monitor::BandView::decl(&cfg),
        crate::monitor::BaselineSeriesView::decl(&cfg),
        crate::monitor::BaselineStatusView::decl(&cfg),
        crate::monitor::DeviationEventsInput::decl(&cfg),
        crate::monitor::DeviationEventView::decl(&cfg),
        crate::monitor::RangeInput::decl(&cfg),
        crate::monitor::MarkInput::decl(&cfg),
        crate::monitor::MarkView::decl(&cfg),
        crate::monitor::CaptureInput::decl(&cfg),
        crate::monitor::NamedBaselineView::decl(&cfg),
        crate::monitor::NamedSeriesView::decl(&cfg),
        crate::monitor::CompareInput::decl(&cfg),
        crate::monitor::ComparisonView::decl(&cfg),
        crate::monitor::ComparisonRowView::decl(&cfg),
        crate::monitor::ReportInput::decl(&cfg),
        crate::monitor::ReportFile::decl(&cfg),
        crate::monitor::ImportInput::decl(&cfg),
        crate::monitor::ImportView::decl(&cfg),
        crate::monitor::PrometheusImportInput::decl(&cfg),
        crate::backup::BackupTrendsInput::decl(&cfg),
        crate::backup::BackupDetailView::decl(&cfg),
        crate::backup::TableView::decl(&cfg),
        crate::backup::BackupPolicyView::decl(&cfg),
        crate::backup::PolicySchedule::decl(&cfg),
        crate::backup::LockedSetting::decl(&cfg),
        crate::alert::rules::RuleSpec::decl(&cfg),
        crate::alert::rules::RuleView::decl(&cfg),
        crate::alert::rules::RuleSaveInput::decl(&cfg),
        crate::alert::rules::RuleNameInput::decl(&cfg),
        crate::alert::rules::RulePreviewInput::decl(&cfg),
        crate::alert::rules::PreviewFiring::decl(&cfg),
        crate::alert::rules::PreviewSeries::decl(&cfg),
        crate::alert::rules::RulePreview::decl(&cfg),
        crate::alert::routing::IntegrationView::decl(&cfg),
        crate::alert::routing::ReceiverView::decl(&cfg),
        crate::alert::routing::RoutingView::decl(&cfg),
        crate::alert::routing::RoutingSaveInput::decl(&cfg),
        crate::alert::routing::RoutePreviewInput::decl(&cfg),
        crate::alert::routing::RenderedView::decl(&cfg),
        crate::alert::routing::RoutePreview::decl(&cfg),
        crate::alert::routing::TestSendInput::decl(&cfg),
        crate::alert::routing::TestSendResult::decl(&cfg),
        crate::alert::silences::SilenceView::decl(&cfg),
        crate::alert::silences::SilenceInput::decl(&cfg),
        crate::alert::silences::SilenceIdInput::decl(&cfg),
        crate::alert::views::AlertView::decl(&cfg),
        crate::alert::views::HistoryInput::decl(&cfg),
        crate::alert::views::DeliveryView::decl(&cfg),
        crate::alert::views::ChannelSummary::decl(&cfg),
        crate::alert::views::DeliveryLog::decl(&cfg),
        crate::alert::views::DeliveriesInput::decl(&cfg),
        crate::alert::views::DeliveryKeyInput::decl(&cfg),
        crate::runtime::MemberView::decl(&cfg),
        crate::runtime::DutyView::decl(&cfg),
        crate::runtime::RuntimeStatus::decl(&cfg),
        crate::runtime::LiveEvent::decl(&cfg),
    ] {
        out.push_str("export ");
        out.push_str(&decl);
        out.push_str("\n\n");
    }
    out.push_str("/** Every IPC command, its arguments and what it resolves to. */\n");
    out.push_str("export interface Commands {\n");
    for (command, signature) in crate::commands::ipc_commands().zip(crate::commands::signatures()) {
        let args = if signature.args.is_empty() {
            "Record<string, never>".to_owned()
        } else {
            let fields: Vec<String> = signature
                .args
                .iter()
                .map(|(name, ts)| format!("{name}: {ts}"))
                .collect();
            format!("{{ {} }}", fields.join("; "))
        };
        out.push_str(&format!(
            "  /** {} */\n  {}: {{ args: {args}; returns: {} }};\n",
            command.summary, command.name, signature.returns
        ));
    }
    out.push_str("}\n");
    out
}
