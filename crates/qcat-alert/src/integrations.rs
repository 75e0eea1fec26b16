//! A receiver's integrations, read from its `*_configs` lists as `alertmanager.yml` writes
//! them — `webhook_configs`, `email_configs`, `slack_configs` with Alertmanager's field
//! names — and the console's own `dingtalk_configs`, `wecom_configs`, `feishu_configs` and
//! `sms_configs` (Aliyun preset). Each integration renders a notification with its
//! templates (`title`, `message`, for e-mail `html` and `text`) and sends it.
//!
//! Credentials (webhook URLs, robot secrets, SMTP passwords, API keys) are written
//! `secret:NAME` and read from the keychain through the caller's resolver;
//! [`move_credentials`] turns a file's literal credentials into named secrets when it is
//! saved, so no credential is stored in the routing text.

use std::time::Duration;

use qcat_core::secret::Secret;
use serde_json::Value;

use crate::channels::dingtalk::{self, DingTalk};
use crate::channels::email::{Email, EmailContent, Security};
use crate::channels::feishu::Feishu;
use crate::channels::slack::Slack;
use crate::channels::sms::AliyunSms;
use crate::channels::webhook::{Forward, Webhook};
use crate::channels::wecom::WeCom;
use crate::channels::{SendError, template};
use crate::config::Receiver;
use crate::notify::{Notification, Status};

/// The integration kinds, their credential fields (paths inside one config) and whether
/// they tell resolved alerts by default (Alertmanager's defaults for its own kinds).
pub const KINDS: [(&str, &[&str], bool); 8] = [
    (
        "webhook_configs",
        &[
            "url",
            "http_config.bearer_token",
            "http_config.authorization.credentials",
        ],
        true,
    ),
    ("email_configs", &["auth_password"], false),
    ("slack_configs", &["api_url"], false),
    ("dingtalk_configs", &["webhook_url", "secret"], true),
    ("wecom_configs", &["webhook_url"], true),
    ("feishu_configs", &["webhook_url", "secret"], true),
    ("sms_configs", &["access_key_secret"], false),
    (
        "alertmanager_configs",
        &["url", "http_config.authorization.credentials"],
        true,
    ),
];

/// Reads a credential's text: `secret:NAME` from the keychain, anything else as written.
pub type Resolve<'a> = &'a dyn Fn(&str) -> Result<Secret<String>, String>;

#[derive(Debug, Clone)]
pub enum Channel {
    Webhook(Webhook),
    Email(Email),
    Slack(Slack),
    DingTalk(DingTalk),
    WeCom(WeCom),
    Feishu(Feishu),
    Sms(AliyunSms),
    Alertmanager(Forward),
}

/// One integration of a receiver.
#[derive(Debug, Clone)]
pub struct Integration {
    /// `dingtalk_configs[0]`: its place in the receiver.
    pub id: String,
    pub channel: Channel,
    pub send_resolved: bool,
    pub title: String,
    pub message: String,
    /// E-mail only: the HTML body.
    pub html: String,
}

/// What a notification looks like on an integration (the routing simulator's preview).
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub title: String,
    pub body: String,
    /// E-mail: the HTML alternative.
    pub html: Option<String>,
}

fn text_field(config: &Value, name: &str) -> Option<String> {
    match config.get(name)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn path_field<'a>(config: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(config, |value, part| value.get(part))
}

fn list_field(config: &Value, name: &str) -> Vec<String> {
    match config.get(name) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        Some(Value::String(text)) => text
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

struct Reader<'a> {
    place: String,
    config: &'a Value,
    resolve: Resolve<'a>,
    problems: &'a mut Vec<String>,
}

impl Reader<'_> {
    fn required(&mut self, name: &str, hint: &str) -> String {
        match text_field(self.config, name) {
            Some(text) if !text.is_empty() => text,
            _ => {
                self.problems
                    .push(format!("{}.{name}: missing; {hint}", self.place));
                String::new()
            }
        }
    }

    fn secret_at(&mut self, path: &str, required: bool) -> Option<Secret<String>> {
        let text = match path_field(self.config, path) {
            Some(Value::String(text)) if !text.is_empty() => text.clone(),
            _ => {
                if required {
                    self.problems.push(format!(
                        "{}.{path}: missing; give it as secret:NAME (`qcatctl secret set NAME`)",
                        self.place
                    ));
                }
                return None;
            }
        };
        match (self.resolve)(&text) {
            Ok(secret) => Some(secret),
            Err(why) => {
                self.problems.push(format!("{}.{path}: {why}", self.place));
                None
            }
        }
    }

    fn template(&mut self, name: &str, default: &str) -> String {
        let source = text_field(self.config, name).unwrap_or_else(|| default.to_owned());
        if let Err(err) = template::check(&source) {
            self.problems.push(format!("{}.{name}: {err}", self.place));
        }
        source
    }
}

/// The integrations of `receiver`, each credential resolved; every problem is named with
/// its place (`receivers[ops].dingtalk_configs[0].webhook_url`).
pub fn integrations(
    receiver: &Receiver,
    resolve: Resolve<'_>,
    timeout: Duration,
) -> Result<Vec<Integration>, Vec<String>> {
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for (kind, configs) in &receiver.configs {
        let Some((_, _, resolved_default)) = KINDS.iter().find(|(k, _, _)| k == kind) else {
            if kind != "fallback" {
                problems.push(format!(
                    "receivers[{}].{kind}: not an integration this console sends to; use one of {}",
                    receiver.name,
                    KINDS.map(|(k, _, _)| k).join(", ")
                ));
            }
            continue;
        };
        let Value::Array(list) = configs else {
            problems.push(format!(
                "receivers[{}].{kind}: give a list of configurations",
                receiver.name
            ));
            continue;
        };
        for (index, config) in list.iter().enumerate() {
            let id = format!("{kind}[{index}]");
            let mut reader = Reader {
                place: format!("receivers[{}].{id}", receiver.name),
                config,
                resolve,
                problems: &mut problems,
            };
            let send_resolved = config
                .get("send_resolved")
                .and_then(Value::as_bool)
                .unwrap_or(*resolved_default);
            let robot_title = template::TITLE;
            let (channel, title, message, html) = match kind.as_str() {
                "webhook_configs" => {
                    let url = reader.secret_at("url", true);
                    let bearer = reader
                        .secret_at("http_config.authorization.credentials", false)
                        .or_else(|| reader.secret_at("http_config.bearer_token", false));
                    let max_alerts = config
                        .get("max_alerts")
                        .and_then(Value::as_u64)
                        .unwrap_or(0) as usize;
                    (
                        url.map(|url| {
                            Channel::Webhook(Webhook {
                                url,
                                bearer_token: bearer,
                                max_alerts,
                            })
                        }),
                        reader.template("title", robot_title),
                        String::new(),
                        String::new(),
                    )
                }
                "email_configs" => {
                    let to = list_field(config, "to");
                    if to.is_empty() {
                        reader.problems.push(format!(
                            "{}.to: missing; give the recipients, comma-separated",
                            reader.place
                        ));
                    }
                    let from = reader.required("from", "give the sender's address");
                    let smarthost =
                        reader.required("smarthost", "give the SMTP server as host:port");
                    let (host, port) = match smarthost.rsplit_once(':') {
                        Some((host, port)) if port.parse::<u16>().is_ok() => (
                            host.trim_matches(['[', ']']).to_owned(),
                            port.parse().unwrap_or(587),
                        ),
                        _ => {
                            if !smarthost.is_empty() {
                                reader.problems.push(format!(
                                    "{}.smarthost: {smarthost:?} is not host:port (smtp.example.com:587)",
                                    reader.place
                                ));
                            }
                            (String::new(), 0)
                        }
                    };
                    let require_tls = config
                        .get("require_tls")
                        .and_then(Value::as_bool)
                        .unwrap_or(true);
                    // Port 465 speaks TLS from the first byte (Alertmanager does the same).
                    let security = if port == 465 {
                        Security::Tls
                    } else if require_tls {
                        Security::StartTls
                    } else {
                        Security::None
                    };
                    let extra_root_pem = path_field(config, "tls_config.ca_file")
                        .and_then(Value::as_str)
                        .and_then(|path| match std::fs::read(path) {
                            Ok(pem) => Some(pem),
                            Err(err) => {
                                reader.problems.push(format!(
                                    "{}.tls_config.ca_file: cannot read {path}: {err}",
                                    reader.place
                                ));
                                None
                            }
                        });
                    let password = reader.secret_at("auth_password", false);
                    let subject = path_field(config, "headers.Subject")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    let title = match subject {
                        Some(subject) => subject,
                        None => reader.template("title", robot_title),
                    };
                    (
                        Some(Channel::Email(Email {
                            host,
                            port,
                            security,
                            username: text_field(config, "auth_username"),
                            password,
                            from,
                            to,
                            extra_root_pem,
                            timeout,
                        })),
                        title,
                        reader.template("text", template::EMAIL_TEXT),
                        reader.template("html", template::EMAIL_HTML),
                    )
                }
                "slack_configs" => (
                    reader
                        .secret_at("api_url", true)
                        .map(|webhook_url| Channel::Slack(Slack { webhook_url })),
                    reader.template("title", robot_title),
                    reader.template("text", template::MARKDOWN),
                    String::new(),
                ),
                "dingtalk_configs" => {
                    let webhook_url = reader.secret_at("webhook_url", true);
                    let secret = reader.secret_at("secret", false);
                    (
                        webhook_url.map(|webhook_url| {
                            Channel::DingTalk(DingTalk {
                                webhook_url,
                                secret,
                                at_mobiles: list_field(config, "at_mobiles"),
                                at_all: config
                                    .get("at_all")
                                    .and_then(Value::as_bool)
                                    .unwrap_or(false),
                            })
                        }),
                        reader.template("title", robot_title),
                        reader.template("message", template::MARKDOWN),
                        String::new(),
                    )
                }
                "wecom_configs" => (
                    reader.secret_at("webhook_url", true).map(|webhook_url| {
                        Channel::WeCom(WeCom {
                            webhook_url,
                            mentions: list_field(config, "mentions"),
                        })
                    }),
                    reader.template("title", robot_title),
                    reader.template("message", template::MARKDOWN),
                    String::new(),
                ),
                "feishu_configs" => {
                    let webhook_url = reader.secret_at("webhook_url", true);
                    let secret = reader.secret_at("secret", false);
                    (
                        webhook_url.map(|webhook_url| {
                            Channel::Feishu(Feishu {
                                webhook_url,
                                secret,
                            })
                        }),
                        reader.template("title", robot_title),
                        reader.template("message", template::MARKDOWN),
                        String::new(),
                    )
                }
                "alertmanager_configs" => {
                    let url = reader.secret_at("url", true);
                    let bearer = reader.secret_at("http_config.authorization.credentials", false);
                    (
                        url.map(|url| {
                            Channel::Alertmanager(Forward {
                                url,
                                bearer_token: bearer,
                            })
                        }),
                        reader.template("title", robot_title),
                        String::new(),
                        String::new(),
                    )
                }
                _ => {
                    // sms_configs
                    let preset = text_field(config, "preset").unwrap_or_else(|| "aliyun".into());
                    if preset != "aliyun" {
                        reader.problems.push(format!(
                            "{}.preset: {preset:?} is not a preset this console knows; use aliyun",
                            reader.place
                        ));
                    }
                    let phone_numbers = list_field(config, "phone_numbers");
                    if phone_numbers.is_empty() {
                        reader.problems.push(format!(
                            "{}.phone_numbers: missing; give the numbers to text",
                            reader.place
                        ));
                    }
                    let access_key_id = reader.required("access_key_id", "give the AccessKey id");
                    let sign_name =
                        reader.required("sign_name", "give the approved signature name");
                    let template_code = reader
                        .required("template_code", "give the approved template's code (SMS_…)");
                    let secret = reader.secret_at("access_key_secret", true);
                    (
                        secret.map(|access_key_secret| {
                            Channel::Sms(AliyunSms {
                                endpoint: text_field(config, "endpoint")
                                    .unwrap_or_else(|| "https://dysmsapi.aliyuncs.com/".into()),
                                access_key_id,
                                access_key_secret,
                                sign_name,
                                template_code,
                                phone_numbers,
                                region: text_field(config, "region")
                                    .unwrap_or_else(|| "cn-hangzhou".into()),
                            })
                        }),
                        String::new(),
                        reader.template("message", template::SMS),
                        String::new(),
                    )
                }
            };
            if let Some(channel) = channel {
                out.push(Integration {
                    id,
                    channel,
                    send_resolved,
                    title,
                    message,
                    html,
                });
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// The receiver another is to fall back to (the console's `fallback:` key on a receiver).
pub fn fallback(receiver: &Receiver) -> Option<String> {
    receiver
        .configs
        .get("fallback")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

impl Integration {
    /// The kind in a word (`dingtalk`, `email`…), for metrics and the delivery log.
    pub fn kind(&self) -> &'static str {
        match self.channel {
            Channel::Webhook(_) => "webhook",
            Channel::Email(_) => "email",
            Channel::Slack(_) => "slack",
            Channel::DingTalk(_) => "dingtalk",
            Channel::WeCom(_) => "wecom",
            Channel::Feishu(_) => "feishu",
            Channel::Sms(_) => "sms",
            Channel::Alertmanager(_) => "alertmanager",
        }
    }

    /// The service's own sending limit, if it has one: DingTalk's and WeCom's 20 a
    /// minute, Slack's one a second, Feishu's 100 a minute.
    pub fn service_budget(&self) -> Option<(u32, Duration)> {
        match self.channel {
            Channel::DingTalk(_) => Some((dingtalk::PER_MINUTE, Duration::from_secs(60))),
            Channel::WeCom(_) => Some((20, Duration::from_secs(60))),
            Channel::Slack(_) => Some((1, Duration::from_secs(1))),
            Channel::Feishu(_) => Some((100, Duration::from_secs(60))),
            _ => None,
        }
    }

    /// Whether a repeated send is harmless to the receiver: a webhook request carries the
    /// notification's `Idempotency-Key`, and an Alertmanager merges an alert posted again.
    /// A person reading chat, e-mail or SMS sees a repeat.
    pub fn repeat_is_harmless(&self) -> bool {
        matches!(self.channel, Channel::Webhook(_) | Channel::Alertmanager(_))
    }

    /// Whether this integration is told about `notification` at all.
    pub fn wants(&self, notification: &Notification) -> bool {
        notification.status == Status::Firing || self.send_resolved
    }

    /// The notification as this integration shows it.
    pub fn render(&self, notification: &Notification) -> Result<Rendered, template::TemplateError> {
        let title = if self.title.is_empty() {
            String::new()
        } else {
            template::render(&self.title, notification)?
        };
        let body = match &self.channel {
            Channel::Webhook(webhook) => {
                serde_json::to_string_pretty(&webhook.body(notification)).unwrap_or_default()
            }
            Channel::Alertmanager(_) => {
                serde_json::to_string_pretty(&Forward::body(notification)).unwrap_or_default()
            }
            _ => template::render(&self.message, notification)?,
        };
        let html = match self.channel {
            Channel::Email(_) => Some(template::render(&self.html, notification)?),
            _ => None,
        };
        Ok(Rendered { title, body, html })
    }

    /// Sends `notification` (for e-mail, with `chart_png` inline when given); `key` names
    /// it for a receiver that deduplicates (a webhook's `Idempotency-Key`).
    pub async fn send(
        &self,
        client: &reqwest::Client,
        notification: &Notification,
        key: &str,
        now_ms: i64,
        chart_png: Option<Vec<u8>>,
    ) -> Result<(), SendError> {
        let rendered = self
            .render(notification)
            .map_err(|err| SendError::permanent(format!("{}: {err}", self.id)))?;
        match &self.channel {
            Channel::Webhook(webhook) => webhook.send(client, notification, key).await,
            Channel::Alertmanager(forward) => forward.send(client, notification).await,
            Channel::Email(email) => {
                email
                    .send(&EmailContent {
                        subject: rendered.title,
                        text: rendered.body,
                        html: rendered.html.unwrap_or_default(),
                        chart_png,
                    })
                    .await
            }
            Channel::Slack(slack) => slack.send(client, &rendered.title, &rendered.body).await,
            Channel::DingTalk(robot) => {
                robot
                    .send(client, &rendered.title, &rendered.body, now_ms)
                    .await
            }
            Channel::WeCom(robot) => robot.send(client, &rendered.body).await,
            Channel::Feishu(robot) => {
                robot
                    .send(client, &rendered.title, &rendered.body, now_ms)
                    .await
            }
            Channel::Sms(sms) => {
                let nonce = qcat_core::random::hex_id(32);
                sms.send(client, &rendered.body, now_ms, &nonce).await
            }
        }
    }
}

/// Moves every literal credential of `yaml`'s receivers into a named secret (through
/// `store(name, value)`) and writes `secret:NAME` in its place. Returns the text to keep:
/// the same text when nothing was literal; else the text with each literal replaced where
/// it stands (comments and layout kept), or — when that cannot be done surely (a value in
/// a flow mapping, spread over lines, escaped) — the file written anew without comments.
pub fn move_credentials(
    yaml: &str,
    store: &mut dyn FnMut(&str, &str) -> Result<(), String>,
) -> Result<String, String> {
    let mut document: yaml_serde::Value =
        yaml_serde::from_str(yaml).map_err(|err| format!("not YAML: {err}"))?;
    // (field name, literal, replacement), in the file's order.
    let mut moved: Vec<(String, String, String)> = Vec::new();
    if let Some(receivers) = document
        .get_mut("receivers")
        .and_then(|r| r.as_sequence_mut())
    {
        for receiver in receivers {
            let name = receiver
                .get("name")
                .and_then(|n| n.as_str())
                .unwrap_or("receiver")
                .to_owned();
            for (kind, fields, _) in KINDS {
                let Some(list) = receiver.get_mut(kind).and_then(|l| l.as_sequence_mut()) else {
                    continue;
                };
                for (index, config) in list.iter_mut().enumerate() {
                    for path in fields {
                        let mut slot = Some(&mut *config);
                        for part in path.split('.') {
                            slot = slot.and_then(|v| v.get_mut(part));
                        }
                        let Some(slot) = slot else { continue };
                        let Some(text) = slot.as_str() else { continue };
                        if text.is_empty() || text.starts_with("secret:") {
                            continue;
                        }
                        let secret_name = secret_name(&name, kind, index, path);
                        store(&secret_name, text)?;
                        let field = path.rsplit('.').next().unwrap_or(path).to_owned();
                        moved.push((field, text.to_owned(), format!("secret:{secret_name}")));
                        *slot = yaml_serde::Value::String(format!("secret:{secret_name}"));
                    }
                }
            }
        }
    }
    if moved.is_empty() {
        return Ok(yaml.to_owned());
    }
    if let Some(text) = replace_in_place(yaml, &moved)
        && yaml_serde::from_str::<yaml_serde::Value>(&text).is_ok_and(|read| read == document)
    {
        return Ok(text);
    }
    yaml_serde::to_string(&document).map_err(|err| format!("cannot write YAML: {err}"))
}

/// `yaml` with each `field: literal` (plain, single- or double-quoted, on its own line)
/// replaced by `field: replacement`, first occurrence first, in order; `None` when one is
/// not found so. The caller reads the result back and keeps it only if it says the same
/// as the rewritten document.
fn replace_in_place(yaml: &str, moved: &[(String, String, String)]) -> Option<String> {
    let mut text = yaml.to_owned();
    for (field, literal, replacement) in moved {
        let value = regex::escape(literal);
        let line = regex::Regex::new(&format!(
            r#"(?m)^([ \t]*(?:-[ \t]+)?{field}[ \t]*:[ \t]*)(?:{value}|"{value}"|'{value}')([ \t]*(?:#.*)?)$"#,
            field = regex::escape(field),
        ))
        .ok()?;
        let found = line.captures(&text)?;
        let whole = found.get(0)?;
        let rewritten = format!("{}{replacement}{}", &found[1], &found[2]);
        text.replace_range(whole.range(), &rewritten);
    }
    Some(text)
}

/// `alert.ops.dingtalk.0.webhook_url`: a keychain name from the place of a credential
/// (letters, digits, `_`, `-`, `.`; at most 64).
fn secret_name(receiver: &str, kind: &str, index: usize, path: &str) -> String {
    let clean = |text: &str| -> String {
        text.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let kind = kind.trim_end_matches("_configs");
    let field = path.rsplit('.').next().unwrap_or(path);
    let mut name = format!("alert.{}.{kind}.{index}.{}", clean(receiver), clean(field));
    if name.len() > 64 {
        // Long receiver names: keep the tail that tells the field apart.
        name = name[name.len() - 64..].trim_start_matches('.').to_owned();
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AlertmanagerConfig;

    #[test]
    fn literal_credentials_move_to_named_secrets_and_resolve_back() {
        let yaml = "route:\n  receiver: ops\nreceivers:\n- name: ops\n  dingtalk_configs:\n  - webhook_url: https://oapi.dingtalk.com/robot/send?access_token=abc\n    secret: SECxyz\n    at_mobiles: ['13800000000']\n  webhook_configs:\n  - url: secret:hook\n";
        let mut stored = std::collections::BTreeMap::new();
        let text = move_credentials(yaml, &mut |name, value| {
            stored.insert(name.to_owned(), value.to_owned());
            Ok(())
        })
        .unwrap();
        // The token and the signing secret left the text; a secret:NAME stays as it was.
        assert!(
            !text.contains("access_token=abc") && !text.contains("SECxyz"),
            "{text}"
        );
        assert!(
            text.contains("secret:alert.ops.dingtalk.0.webhook_url"),
            "{text}"
        );
        assert!(text.contains("secret:hook"));
        assert_eq!(stored["alert.ops.dingtalk.0.secret"], "SECxyz");
        // Read back, each secret resolves to its value.
        let config = AlertmanagerConfig::parse(&text).unwrap();
        let resolve = |text: &str| -> Result<Secret<String>, String> {
            let name = text.strip_prefix("secret:").ok_or("not secret:")?;
            Ok(Secret::new(
                stored
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| "https://h".into()),
            ))
        };
        let list = integrations(&config.receivers[0], &resolve, Duration::from_secs(10)).unwrap();
        assert_eq!(list.len(), 2);
        let Channel::DingTalk(robot) = &list[0].channel else {
            panic!("dingtalk first")
        };
        assert_eq!(robot.secret.as_ref().unwrap().expose(), "SECxyz");
        assert_eq!(robot.at_mobiles, vec!["13800000000".to_owned()]);
        // Nothing literal: the text is kept as it was, comments and all.
        let again = move_credentials(&text, &mut |_, _| Err("nothing to move".into())).unwrap();
        assert_eq!(again, text);
    }

    #[test]
    fn moving_credentials_keeps_the_files_comments_and_layout() {
        // Two receivers sharing one robot token (each gets its own secret), a quoted value,
        // a trailing comment, and comments the team wrote for each other.
        let yaml = "# Desk routing, owned by the ops team.\nroute:\n  receiver: ops   # default\nreceivers:\n  # The day desk's robot.\n  - name: ops\n    dingtalk_configs:\n      - webhook_url: https://oapi.dingtalk.com/robot/send?access_token=abc  # rotated 2026-11\n        secret: \"SECxyz\"\n  - name: night\n    dingtalk_configs:\n      - webhook_url: 'https://oapi.dingtalk.com/robot/send?access_token=abc'\n        secret: secret:night-sign\n";
        let mut stored = std::collections::BTreeMap::new();
        let text = move_credentials(yaml, &mut |name, value| {
            stored.insert(name.to_owned(), value.to_owned());
            Ok(())
        })
        .unwrap();
        let expected = "# Desk routing, owned by the ops team.\nroute:\n  receiver: ops   # default\nreceivers:\n  # The day desk's robot.\n  - name: ops\n    dingtalk_configs:\n      - webhook_url: secret:alert.ops.dingtalk.0.webhook_url  # rotated 2026-11\n        secret: secret:alert.ops.dingtalk.0.secret\n  - name: night\n    dingtalk_configs:\n      - webhook_url: secret:alert.night.dingtalk.0.webhook_url\n        secret: secret:night-sign\n";
        assert_eq!(text, expected, "only the literals changed");
        assert_eq!(stored.len(), 3);
        assert_eq!(stored["alert.ops.dingtalk.0.secret"], "SECxyz");

        // A literal the line-wise rewrite cannot place surely (a flow mapping): the file is
        // written anew, still without the literal.
        let flow = "route: {receiver: ops}\nreceivers:\n  - {name: ops, webhook_configs: [{url: 'https://h/x?token=t0'}]}\n";
        let text = move_credentials(flow, &mut |_, _| Ok(())).unwrap();
        assert!(!text.contains("token=t0"), "{text}");
        assert!(text.contains("secret:alert.ops.webhook.0.url"), "{text}");
    }

    #[test]
    fn every_problem_of_a_receiver_is_named() {
        let config = AlertmanagerConfig::parse(
            "route:\n  receiver: r\nreceivers:\n- name: r\n  email_configs:\n  - smarthost: mail\n  sms_configs:\n  - preset: other\n  pager_configs: []\n",
        )
        .unwrap();
        let resolve = |_: &str| -> Result<Secret<String>, String> { Err("no keychain".into()) };
        let problems =
            integrations(&config.receivers[0], &resolve, Duration::from_secs(10)).unwrap_err();
        let text = problems.join("\n");
        for expected in [
            "receivers[r].email_configs[0].to: missing",
            "receivers[r].email_configs[0].from: missing",
            "receivers[r].email_configs[0].smarthost: \"mail\" is not host:port",
            "receivers[r].sms_configs[0].preset: \"other\"",
            "receivers[r].sms_configs[0].access_key_secret: missing",
            "receivers[r].pager_configs: not an integration",
        ] {
            assert!(text.contains(expected), "{expected} in\n{text}");
        }
    }
}
