//! Message templates (minijinja): each channel has a default, a receiver may give its own.
//! A template sees the notification as Alertmanager's webhook JSON — `status`, `receiver`,
//! `groupLabels`, `commonLabels`, `commonAnnotations`, `externalURL`, `alerts` (each with
//! `status`, `labels`, `annotations`, `startsAt`, `endsAt`) — so templates written for
//! Alertmanager-style data read the same fields. Undefined fields render empty; a template
//! that does not parse is refused when it is saved, with the line.

use crate::notify::Notification;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// The headline most channels open with: `[FIRING:2] HighLatency` / `[RESOLVED] HighLatency`.
pub const TITLE: &str = "[{{ status | upper }}{% if status == 'firing' %}:{{ alerts | length }}{% endif %}] {{ commonLabels.alertname | default(groupLabels.alertname) | default('alerts') }}";

/// Markdown for the robots (DingTalk, WeCom, Feishu).
pub const MARKDOWN: &str = "### [{{ status | upper }}{% if status == 'firing' %}:{{ alerts | length }}{% endif %}] {{ commonLabels.alertname | default('alerts') }}\n\
{% for alert in alerts %}\n\
- **{{ alert.labels.severity | default('') | upper }}** {{ alert.annotations.summary | default(alert.labels.alertname) }}{% if alert.labels.target %} · {{ alert.labels.target }}{% endif %}\n\
{% if alert.annotations.description %}  {{ alert.annotations.description }}\n{% endif %}\
  {{ alert.startsAt }}{% if alert.status == 'resolved' %} → {{ alert.endsAt }}{% endif %}\n\
{% endfor %}\
{% if truncatedAlerts %}\n… {{ truncatedAlerts }} more\n{% endif %}";

/// Short text for SMS (one line per alert, no markup).
pub const SMS: &str = "[{{ status | upper }}] {% for alert in alerts %}{{ alert.labels.alertname }}{% if alert.labels.severity %}({{ alert.labels.severity }}){% endif %}{% if not loop.last %}, {% endif %}{% endfor %}";

/// E-mail's plain-text body.
pub const EMAIL_TEXT: &str = "{{ status | upper }}: {{ commonLabels.alertname | default('alerts') }}\n\
{% for alert in alerts %}\n\
* [{{ alert.labels.severity | default('') | upper }}] {{ alert.annotations.summary | default(alert.labels.alertname) }}\n\
{% if alert.annotations.description %}  {{ alert.annotations.description }}\n{% endif %}\
  since {{ alert.startsAt }}{% if alert.status == 'resolved' %}, resolved {{ alert.endsAt }}{% endif %}\n\
{% for name, value in alert.labels | items %}  {{ name }}={{ value }}\n{% endfor %}\
{% if alert.annotations.runbook_url %}  runbook: {{ alert.annotations.runbook_url }}\n{% endif %}\
{% endfor %}";

/// E-mail's HTML body (every value escaped; the breach's chart inline as `cid:chart`).
pub const EMAIL_HTML: &str = "<html><body style=\"font-family:sans-serif\">\
<h2 style=\"color:{% if status == 'firing' %}#b42318{% else %}#067647{% endif %}\">{{ status | upper | e }}: {{ commonLabels.alertname | default('alerts') | e }}</h2>\
<img src=\"cid:chart\" alt=\"\" style=\"max-width:100%\">\
{% for alert in alerts %}<h3>[{{ alert.labels.severity | default('') | upper | e }}] {{ alert.annotations.summary | default(alert.labels.alertname) | e }}</h3>\
{% if alert.annotations.description %}<p>{{ alert.annotations.description | e }}</p>{% endif %}\
<p>since {{ alert.startsAt | e }}{% if alert.status == 'resolved' %}, resolved {{ alert.endsAt | e }}{% endif %}</p>\
<table>{% for name, value in alert.labels | items %}<tr><td>{{ name | e }}</td><td>{{ value | e }}</td></tr>{% endfor %}</table>\
{% if alert.annotations.runbook_url %}<p><a href=\"{{ alert.annotations.runbook_url | e }}\">runbook</a></p>{% endif %}\
{% endfor %}</body></html>";

/// Renders `source` for `notification`.
pub fn render(source: &str, notification: &Notification) -> Result<String, TemplateError> {
    let mut environment = minijinja::Environment::new();
    environment.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
    environment
        .add_template("message", source)
        .map_err(|err| TemplateError(describe(&err)))?;
    let template = environment
        .get_template("message")
        .map_err(|err| TemplateError(describe(&err)))?;
    template
        .render(minijinja::value::Serde(notification.webhook_json()))
        .map_err(|err| TemplateError(describe(&err)))
}

/// Checks a template without data: a syntax error names its line.
pub fn check(source: &str) -> Result<(), TemplateError> {
    let mut environment = minijinja::Environment::new();
    environment
        .add_template("message", source)
        .map(|_| ())
        .map_err(|err| TemplateError(describe(&err)))
}

fn describe(err: &minijinja::Error) -> String {
    match err.line() {
        Some(line) => format!(
            "template line {line}: {}",
            err.detail().unwrap_or("invalid")
        ),
        None => format!("template: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{AlertItem, Status};

    pub(crate) fn sample() -> Notification {
        let labels = |pairs: &[(&str, &str)]| -> crate::Labels {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        Notification {
            receiver: "ops".into(),
            status: Status::Firing,
            group_key: "g".into(),
            group_labels: labels(&[("alertname", "HighErrorRate")]),
            common_labels: labels(&[("alertname", "HighErrorRate"), ("severity", "critical")]),
            common_annotations: labels(&[]),
            external_url: String::new(),
            alerts: vec![AlertItem {
                status: Status::Firing,
                labels: labels(&[
                    ("alertname", "HighErrorRate"),
                    ("severity", "critical"),
                    ("target", "demo"),
                ]),
                annotations: labels(&[("summary", "错误率 12 %")]),
                starts_at: "2026-12-01T09:30:00Z".into(),
                ends_at: "0001-01-01T00:00:00Z".into(),
                generator_url: String::new(),
                fingerprint: "f".into(),
            }],
            truncated_alerts: 0,
        }
    }

    #[test]
    fn the_defaults_render_the_group_and_a_broken_template_names_its_line() {
        let notification = sample();
        assert_eq!(
            render(TITLE, &notification).unwrap(),
            "[FIRING:1] HighErrorRate"
        );
        let markdown = render(MARKDOWN, &notification).unwrap();
        assert!(
            markdown.contains("**CRITICAL** 错误率 12 % · demo"),
            "{markdown}"
        );
        assert_eq!(
            render(SMS, &notification).unwrap(),
            "[FIRING] HighErrorRate(critical)"
        );
        let err = check("line one\n{% for x in %}").unwrap_err();
        assert!(err.0.starts_with("template line 2"), "{err}");
    }
}
