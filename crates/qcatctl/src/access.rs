//! `qcatctl user|role|access|audit`: acting as a console user, audited like the window.
//!
//! The acting user comes from `--user` or `QCAT_USER`; their password from `QCAT_PASSWORD`,
//! else a prompt on a terminal, else the first line of standard input. Commands that take a
//! new password (`user add`, `user passwd`) read it from the next line of standard input.

use std::io::{BufRead, IsTerminal};

use clap::Subcommand;
use qcat_api::access::{LoginInput, NewUserInput, PasswordInput, RoleChange, RoleInput, RoleView};
use qcat_api::audit::{AuditFilterInput, AuditQuery, export_format};
use qcat_api::secrets::{Secret, SecretText};
use qcat_api::{Api, ApiError, ErrorCode, SessionSlot};

use crate::output::{self, CliError, note, out};

/// The most `qcatctl` reads from standard input for a password or a secret: far beyond any
/// real one, and no way to make the console hash megabytes.
pub const MAX_STDIN_BYTES: u64 = 64 * 1024;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input. `--admin` on an empty store
    /// creates the first administrator and needs no signed-in user.
    Add {
        name: String,
        #[arg(long, default_value = "")]
        display_name: String,
        /// A role to give (repeat for several).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Give the admin role.
        #[arg(long)]
        admin: bool,
    },
    /// List users with their roles, state and last sign-in.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable a user (ends their sessions; refused for the last enabled administrator).
    Disable { name: String },
    /// Enable a disabled user.
    Enable { name: String },
    /// Set a user's password (your own, or another's with rbac:edit), read from standard input.
    Passwd { name: String },
    /// Replace a user's roles.
    Roles {
        name: String,
        #[arg(long = "role")]
        roles: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// List roles with their grants and parents.
    List {
        #[arg(long)]
        json: bool,
    },
    /// A role's grants, parents, and permissions held directly and through inheritance.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Create a role.
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// A parent role to inherit from (repeat for several).
        #[arg(long = "inherit")]
        parents: Vec<String>,
        /// A permission pattern to grant (repeat for several).
        #[arg(long = "grant")]
        grants: Vec<String>,
    },
    /// Grant a permission pattern (`backup:restore`, `backup:*`) to a role.
    Grant { role: String, pattern: String },
    /// Remove a grant from a role.
    Revoke { role: String, pattern: String },
    /// Make ROLE inherit every grant of PARENT.
    Inherit { role: String, parent: String },
    /// Make ROLE stop inheriting from PARENT.
    Uninherit { role: String, parent: String },
    /// Delete a custom role nobody inherits from.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Whether USER holds PERMISSION, and the path through roles that grants it.
    Explain {
        user: String,
        permission: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct FilterArgs {
    /// Only entries by this user.
    #[arg(long)]
    user: Option<String>,
    /// An action, or a prefix ending in `.` or `*` (`rbac.*`).
    #[arg(long)]
    action: Option<String>,
    /// Text the target contains.
    #[arg(long)]
    target: Option<String>,
    /// ok, denied or failed.
    #[arg(long)]
    result: Option<String>,
    /// From this time: RFC 3339 (`2026-11-26T10:00:00Z`) or an age (`2h`, `7d`).
    #[arg(long)]
    since: Option<String>,
    /// Until this time (same forms).
    #[arg(long)]
    until: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Entries matching the filters, newest first.
    Query {
        #[command(flatten)]
        filter: FilterArgs,
        /// At most this many entries (1 to 10000).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        /// Only entries older than this sequence number (the last one of the previous page).
        #[arg(long, value_name = "SEQ")]
        before: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Every matching entry, oldest first, to standard output.
    Export {
        #[command(flatten)]
        filter: FilterArgs,
        /// csv or json.
        #[arg(long)]
        format: String,
    },
    /// Check the hash chain; exits 1 naming the first entry that was changed, deleted or
    /// reordered.
    Verify {
        #[arg(long)]
        json: bool,
    },
}

fn time_arg(flag: &str, text: &str) -> Result<i64, ApiError> {
    let refused = || {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!(
                "{flag} {text:?}: use an RFC 3339 time like 2026-11-26T10:00:00Z or an age like 2h or 7d"
            ),
        )
    };
    // jiff reads any RFC 3339 time, before 1970 too (humantime stops at the epoch).
    if let Ok(at) = text.trim().parse::<jiff::Timestamp>() {
        return Ok(at.as_millisecond());
    }
    let age = humantime::parse_duration(text.trim()).map_err(|_| refused())?;
    let now = jiff::Timestamp::now().as_millisecond();
    let age = i64::try_from(age.as_millis()).map_err(|_| refused())?;
    Ok(now.saturating_sub(age))
}

impl FilterArgs {
    fn input(&self) -> Result<AuditFilterInput, ApiError> {
        Ok(AuditFilterInput {
            actor: self.user.clone(),
            action: self.action.clone(),
            target: self.target.clone(),
            outcome: self.result.clone(),
            since_ms: self
                .since
                .as_deref()
                .map(|t| time_arg("--since", t))
                .transpose()?,
            until_ms: self
                .until
                .as_deref()
                .map(|t| time_arg("--until", t))
                .transpose()?,
        })
    }
}

/// One line of standard input, without its line ending (at most [`MAX_STDIN_BYTES`]).
fn stdin_line(what: &str) -> Result<String, CliError> {
    let mut line = String::new();
    let read = std::io::Read::take(std::io::stdin().lock(), MAX_STDIN_BYTES)
        .read_line(&mut line)
        .map_err(|err| {
            ApiError::new(
                ErrorCode::InvalidInput,
                format!("cannot read {what} from standard input: {err}"),
            )
        })?;
    if read == 0 {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            format!("{what}: standard input is empty; pipe it in (one line)"),
        )
        .into());
    }
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

fn secret(text: String) -> SecretText {
    SecretText(Secret::new(text))
}

/// Signs the slot in as the acting user (`--user` / `QCAT_USER`); returns the password
/// used, which is also the current password when they change their own.
pub async fn sign_in(
    api: &Api,
    slot: &SessionSlot,
    user: Option<&str>,
) -> Result<Secret<String>, CliError> {
    let Some(username) = user.filter(|name| !name.is_empty()) else {
        return Err(ApiError::new(
            ErrorCode::Unauthenticated,
            "this command acts as a console user: pass --user NAME or set QCAT_USER (password from QCAT_PASSWORD, a prompt or standard input)",
        )
        .into());
    };
    let password = match std::env::var("QCAT_PASSWORD") {
        Ok(password) => password,
        Err(_) if std::io::stdin().is_terminal() => {
            rpassword::prompt_password(format!("password for {username}: ")).map_err(|err| {
                ApiError::new(
                    ErrorCode::InvalidInput,
                    format!("cannot read the password: {err}"),
                )
            })?
        }
        Err(_) => stdin_line("the password")?,
    };
    api.login(
        slot,
        LoginInput {
            username: username.to_owned(),
            password: secret(password.clone()),
        },
    )
    .await?;
    Ok(Secret::new(password))
}

pub(crate) fn ms_text(ms: Option<i64>) -> String {
    ms.and_then(|ms| u64::try_from(ms).ok())
        .map(|ms| {
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms),
            )
            .to_string()
        })
        .unwrap_or_else(|| "never".to_owned())
}

pub async fn user_command(
    api: &Api,
    slot: &SessionSlot,
    user: Option<&str>,
    command: UserCommand,
) -> Result<(), CliError> {
    // The very first administrator of an empty store is created without signing in.
    if let UserCommand::Add {
        name,
        display_name,
        admin: true,
        ..
    } = &command
        && api.setup_status()?.needs_first_admin
    {
        let password = stdin_line("the new user's password")?;
        api.create_first_admin(
            slot,
            NewUserInput {
                username: name.clone(),
                display_name: display_name.clone(),
                password: secret(password),
                roles: Vec::new(),
            },
        )
        .await?;
        note!("created the first administrator {name}");
        return Ok(());
    }
    let acting_password = sign_in(api, slot, user).await?;
    match command {
        UserCommand::Add {
            name,
            display_name,
            mut roles,
            admin,
        } => {
            if admin {
                roles.push("admin".to_owned());
            }
            let password = stdin_line("the new user's password")?;
            let created = api
                .create_user(
                    slot,
                    NewUserInput {
                        username: name,
                        display_name,
                        password: secret(password),
                        roles,
                    },
                )
                .await?;
            note!(
                "created user {} with roles [{}]",
                created.username,
                created.roles.join(", ")
            );
        }
        UserCommand::List { json } => {
            let users = api.access_model(slot).await?.users;
            if json {
                return output::json(&users);
            }
            for user in users {
                out!(
                    "{:20} {:8} last sign-in {:22} roles: {}",
                    user.username,
                    if user.enabled { "enabled" } else { "disabled" },
                    ms_text(user.last_login_ms),
                    user.roles.join(", ")
                );
            }
        }
        UserCommand::Disable { name } => {
            api.set_user_enabled(slot, &name, false, None).await?;
            note!("disabled {name}");
        }
        UserCommand::Enable { name } => {
            api.set_user_enabled(slot, &name, true, None).await?;
            note!("enabled {name}");
        }
        UserCommand::Passwd { name } => {
            let password = stdin_line("the new password")?;
            api.change_password(
                slot,
                PasswordInput {
                    username: name.clone(),
                    password: secret(password),
                    current_password: Some(SecretText(acting_password)),
                },
            )
            .await?;
            note!("password of {name} changed");
        }
        UserCommand::Roles { name, roles } => {
            let user = api.set_user_roles(slot, &name, roles, None).await?;
            note!(
                "{} now has roles [{}]",
                user.username,
                user.roles.join(", ")
            );
        }
    }
    Ok(())
}

fn print_role(role: &RoleView) -> Result<(), CliError> {
    out!(
        "{}{}",
        role.name,
        if role.builtin { " (built in)" } else { "" }
    );
    if !role.description.is_empty() {
        out!("  {}", role.description);
    }
    out!("  grants:    {}", role.grants.join(", "));
    out!("  inherits:  {}", role.parents.join(", "));
    out!("  direct:    {}", role.direct.join(", "));
    out!("  inherited: {}", role.inherited.join(", "));
    Ok(())
}

pub async fn role_command(
    api: &Api,
    slot: &SessionSlot,
    command: RoleCommand,
) -> Result<(), CliError> {
    let role = match command {
        RoleCommand::List { json } => {
            let roles = api.access_model(slot).await?.roles;
            if json {
                return output::json(&roles);
            }
            for role in &roles {
                out!(
                    "{:16} grants [{}] inherits [{}]",
                    role.name,
                    role.grants.join(", "),
                    role.parents.join(", ")
                );
            }
            return Ok(());
        }
        RoleCommand::Show { name, json } => {
            let roles = api.access_model(slot).await?.roles;
            let role = roles
                .into_iter()
                .find(|role| role.name == name)
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::NotFound,
                        format!("role {name:?} does not exist; see `qcatctl role list`"),
                    )
                })?;
            if json {
                return output::json(&role);
            }
            role
        }
        RoleCommand::Create {
            name,
            description,
            parents,
            grants,
        } => {
            api.save_role(
                slot,
                RoleInput {
                    name,
                    description,
                    grants,
                    parents,
                    create: true,
                    seen_version: None,
                },
            )
            .await?
        }
        RoleCommand::Grant { role, pattern } => {
            api.edit_role(slot, &role, RoleChange::Grant(pattern), None)
                .await?
        }
        RoleCommand::Revoke { role, pattern } => {
            api.edit_role(slot, &role, RoleChange::Revoke(pattern), None)
                .await?
        }
        RoleCommand::Inherit { role, parent } => {
            api.edit_role(slot, &role, RoleChange::Inherit(parent), None)
                .await?
        }
        RoleCommand::Uninherit { role, parent } => {
            api.edit_role(slot, &role, RoleChange::Uninherit(parent), None)
                .await?
        }
        RoleCommand::Delete { name } => {
            api.delete_role(slot, &name, None).await?;
            note!("deleted role {name}");
            return Ok(());
        }
    };
    print_role(&role)
}

pub async fn access_command(
    api: &Api,
    slot: &SessionSlot,
    command: AccessCommand,
) -> Result<(), CliError> {
    let AccessCommand::Explain {
        user,
        permission,
        json,
    } = command;
    let why = api.explain_access(slot, &user, &permission).await?;
    if json {
        return output::json(&why);
    }
    if why.allowed {
        out!(
            "yes: {user} holds {permission} through {} (grant {})",
            why.path.join(" → "),
            why.grant.as_deref().unwrap_or("")
        );
    } else if !why.enabled {
        out!("no: {user} is disabled");
    } else {
        out!("no: none of {user}'s roles grants {permission}");
    }
    Ok(())
}

/// Runs an audit command; `Ok(false)` means `verify` found a broken chain (exit 1).
pub async fn audit_command(
    api: &Api,
    slot: &SessionSlot,
    command: AuditCommand,
) -> Result<bool, CliError> {
    match command {
        AuditCommand::Query {
            filter,
            limit,
            before,
            json,
        } => {
            let entries = api
                .audit_page(
                    slot,
                    AuditQuery {
                        filter: filter.input()?,
                        before_seq: before,
                        limit: Some(limit),
                    },
                )
                .await?;
            if json {
                output::json(&entries)?;
                return Ok(true);
            }
            for entry in entries {
                out!(
                    "{:>8} {} {:12} {:28} {:24} {:7} {} {}",
                    entry.seq,
                    ms_text(Some(entry.at_ms)),
                    entry.actor,
                    entry.action,
                    entry.target,
                    entry.outcome,
                    entry.source,
                    entry.detail
                );
            }
        }
        AuditCommand::Export { filter, format } => {
            let format = export_format(&format)?;
            let mut stdout = std::io::BufWriter::new(std::io::stdout());
            let display = std::sync::Arc::new(crate::progress::Display::new("export"));
            let shown = display.clone();
            let progress = qcat_api::Progress::new("entries", move |report| shown.show(&report));
            let written = api
                .audit_export(slot, filter.input()?, format, &mut stdout, &progress)
                .await;
            display.finish();
            if let Err(err) = &written
                && err.message.contains("Broken pipe")
            {
                // The reader went away mid-export: the trail says failed; end quietly.
                return Err(CliError::Closed);
            }
            output::finish(std::io::Write::flush(&mut stdout))?;
            let written = written?;
            note!("exported {written} entries");
        }
        AuditCommand::Verify { json } => {
            let ended =
                crate::progress::run_job(api, slot, "verify", api.audit_verify(slot)).await?;
            let report: qcat_api::audit::AuditVerifyReport = match ended.state {
                qcat_api::jobs::JobState::Succeeded => {
                    serde_json::from_value(ended.result.unwrap_or_default())
                        .map_err(|err| qcat_api::ApiError::internal_in("audit_verify", &err))?
                }
                qcat_api::jobs::JobState::Cancelled => {
                    return Err(qcat_api::ApiError::new(
                        qcat_api::ErrorCode::Cancelled,
                        ended
                            .error
                            .unwrap_or_else(|| "verification cancelled".into()),
                    )
                    .into());
                }
                _ => {
                    return Err(qcat_api::ApiError::new(
                        qcat_api::ErrorCode::Internal,
                        ended.error.unwrap_or_else(|| "verification failed".into()),
                    )
                    .into());
                }
            };
            if json {
                output::json(&report)?;
            } else if report.ok {
                out!(
                    "audit chain ok: {} entries{}; {}",
                    report.entries,
                    report
                        .checkpoint_seq
                        .map(|seq| format!(" after the retention checkpoint at {seq}"))
                        .unwrap_or_default(),
                    match report.anchored_seq {
                        Some(seq) => format!(
                            "reaches entry {seq} as anchored outside the store ({} anchors)",
                            report.anchors
                        ),
                        None => "not anchored yet (no anchor, or no master key to check it)".into(),
                    }
                );
            } else {
                out!(
                    "audit chain BROKEN: {}",
                    report.problem.as_deref().unwrap_or("")
                );
            }
            return Ok(report.ok);
        }
    }
    Ok(true)
}
