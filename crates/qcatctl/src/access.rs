//! `qcatctl user|role|access|audit`: acting as a console user, audited like the window.
//!
//! The acting user comes from `--user` or `QCAT_USER`; their password from `QCAT_PASSWORD`,
//! else a prompt on a terminal, else the first line of standard input. Commands that take a
//! new password (`user add`, `user passwd`) read it from the next line of standard input.

use std::io::{BufRead, IsTerminal};

use clap::Subcommand;
use qcat_api::access::{LoginInput, NewUserInput, PasswordInput, RoleEdit, RoleInput, RoleView};
use qcat_api::audit::{AuditFilterInput, AuditQuery, export_format};
use qcat_api::secrets::SecretText;
use qcat_api::{Api, ApiError, SessionSlot};
use qcat_core::ErrorCode;
use qcat_core::secret::Secret;

use crate::print_json;

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
        /// At most this many entries.
        #[arg(long, default_value_t = 100)]
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
    let now = std::time::SystemTime::now();
    let at = humantime::parse_rfc3339_weak(text)
        .ok()
        .or_else(|| {
            humantime::parse_duration(text)
                .ok()
                .and_then(|age| now.checked_sub(age))
        })
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidInput,
                format!(
                    "{flag} {text:?}: use an RFC 3339 time like 2026-11-26T10:00:00Z or an age like 2h or 7d"
                ),
            )
        })?;
    let ms = at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    Ok(i64::try_from(ms).unwrap_or(i64::MAX))
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

/// One line of standard input, without its line ending.
fn stdin_line(what: &str) -> Result<String, ApiError> {
    let mut line = String::new();
    let read = std::io::stdin()
        .lock()
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
        ));
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
) -> Result<Secret<String>, ApiError> {
    let Some(username) = user.filter(|name| !name.is_empty()) else {
        return Err(ApiError::new(
            ErrorCode::Unauthenticated,
            "this command acts as a console user: pass --user NAME or set QCAT_USER (password from QCAT_PASSWORD, a prompt or standard input)",
        ));
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

fn ms_text(ms: Option<i64>) -> String {
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
) -> Result<(), ApiError> {
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
        eprintln!("created the first administrator {name}");
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
            eprintln!(
                "created user {} with roles [{}]",
                created.username,
                created.roles.join(", ")
            );
        }
        UserCommand::List { json } => {
            let users = api.access_model(slot).await?.users;
            if json {
                return print_json(&users);
            }
            for user in users {
                println!(
                    "{:20} {:8} last sign-in {:22} roles: {}",
                    user.username,
                    if user.enabled { "enabled" } else { "disabled" },
                    ms_text(user.last_login_ms),
                    user.roles.join(", ")
                );
            }
        }
        UserCommand::Disable { name } => {
            api.set_user_enabled(slot, &name, false).await?;
            eprintln!("disabled {name}");
        }
        UserCommand::Enable { name } => {
            api.set_user_enabled(slot, &name, true).await?;
            eprintln!("enabled {name}");
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
            eprintln!("password of {name} changed");
        }
        UserCommand::Roles { name, roles } => {
            let user = api.set_user_roles(slot, &name, roles).await?;
            eprintln!(
                "{} now has roles [{}]",
                user.username,
                user.roles.join(", ")
            );
        }
    }
    Ok(())
}

fn print_role(role: &RoleView) {
    println!(
        "{}{}",
        role.name,
        if role.builtin { " (built in)" } else { "" }
    );
    if !role.description.is_empty() {
        println!("  {}", role.description);
    }
    println!("  grants:    {}", role.grants.join(", "));
    println!("  inherits:  {}", role.parents.join(", "));
    println!("  direct:    {}", role.direct.join(", "));
    println!("  inherited: {}", role.inherited.join(", "));
}

pub async fn role_command(
    api: &Api,
    slot: &SessionSlot,
    command: RoleCommand,
) -> Result<(), ApiError> {
    let role = match command {
        RoleCommand::List { json } => {
            let roles = api.access_model(slot).await?.roles;
            if json {
                return print_json(&roles);
            }
            for role in &roles {
                println!(
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
                return print_json(&role);
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
                },
            )
            .await?
        }
        RoleCommand::Grant { role, pattern } => {
            api.edit_role(slot, &role, RoleEdit::Grant(pattern)).await?
        }
        RoleCommand::Revoke { role, pattern } => {
            api.edit_role(slot, &role, RoleEdit::Revoke(pattern))
                .await?
        }
        RoleCommand::Inherit { role, parent } => {
            api.edit_role(slot, &role, RoleEdit::Inherit(parent))
                .await?
        }
        RoleCommand::Delete { name } => {
            api.delete_role(slot, &name).await?;
            eprintln!("deleted role {name}");
            return Ok(());
        }
    };
    print_role(&role);
    Ok(())
}

pub async fn access_command(
    api: &Api,
    slot: &SessionSlot,
    command: AccessCommand,
) -> Result<(), ApiError> {
    let AccessCommand::Explain {
        user,
        permission,
        json,
    } = command;
    let why = api.explain_access(slot, &user, &permission).await?;
    if json {
        return print_json(&why);
    }
    if why.allowed {
        println!(
            "yes: {user} holds {permission} through {} (grant {})",
            why.path.join(" → "),
            why.grant.as_deref().unwrap_or("")
        );
    } else if !why.enabled {
        println!("no: {user} is disabled");
    } else {
        println!("no: none of {user}'s roles grants {permission}");
    }
    Ok(())
}

/// Runs an audit command; `Ok(false)` means `verify` found a broken chain (exit 1).
pub async fn audit_command(
    api: &Api,
    slot: &SessionSlot,
    command: AuditCommand,
) -> Result<bool, ApiError> {
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
                print_json(&entries)?;
                return Ok(true);
            }
            for entry in entries {
                println!(
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
            let mut out = std::io::BufWriter::new(std::io::stdout());
            let written = api
                .audit_export(slot, filter.input()?, format, &mut out)
                .await?;
            drop(out);
            eprintln!("exported {written} entries");
        }
        AuditCommand::Verify { json } => {
            let report = api.audit_verify(slot).await?;
            if json {
                print_json(&report)?;
            } else if report.ok {
                println!(
                    "audit chain ok: {} entries{}",
                    report.entries,
                    report
                        .checkpoint_seq
                        .map(|seq| format!(" after the retention checkpoint at {seq}"))
                        .unwrap_or_default()
                );
            } else {
                println!(
                    "audit chain BROKEN: {}",
                    report.problem.as_deref().unwrap_or("")
                );
            }
            return Ok(report.ok);
        }
    }
    Ok(true)
}
