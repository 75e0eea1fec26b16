//! Every channel sends to a local stand-in of its service (`qcat-testkit/fixtures/robots.py`, written
//! from the services' documentation, independently of this crate) that checks signatures,
//! timestamps, message shapes and rate limits the way the service does: a message that
//! gets through was signed right; a wrong secret is refused and not retried; a rate limit
//! is reported as retryable, with the wait the service asks for; an outage is retryable.

use qcat_alert::channels::dingtalk::DingTalk;
use qcat_alert::channels::feishu::Feishu;
use qcat_alert::channels::slack::Slack;
use qcat_alert::channels::sms::AliyunSms;
use qcat_alert::channels::webhook::Webhook;
use qcat_alert::channels::wecom::WeCom;
use qcat_alert::channels::{http_client, template};
use qcat_alert::notify::{AlertItem, Notification, Status};
use qcat_core::secret::Secret;
use qcat_testkit::{RobotCredentials, Robots};

const DINGTALK_TOKEN: &str = "d1ngt0ken";
const DINGTALK_SECRET: &str = "SECf00d1e";
const FEISHU_SECRET: &str = "feishu-s3cret";
const ALIYUN_ID: &str = "LTAI5tTestId";
const ALIYUN_SECRET: &str = "aliyun-secret";

fn robots() -> Robots {
    Robots::start(&RobotCredentials {
        dingtalk_token: DINGTALK_TOKEN,
        dingtalk_secret: DINGTALK_SECRET,
        feishu_secret: FEISHU_SECRET,
        aliyun_id: ALIYUN_ID,
        aliyun_secret: ALIYUN_SECRET,
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn notification() -> Notification {
    let labels = |pairs: &[(&str, &str)]| -> qcat_alert::Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    Notification {
        receiver: "desk".into(),
        status: Status::Firing,
        group_key: "{}:{alertname=\"HighErrorRate\"}".into(),
        group_labels: labels(&[("alertname", "HighErrorRate")]),
        common_labels: labels(&[("alertname", "HighErrorRate"), ("severity", "critical")]),
        common_annotations: labels(&[("summary", "错误率超过 5 %")]),
        external_url: "http://127.0.0.1/console".into(),
        alerts: (0..3)
            .map(|i| AlertItem {
                status: Status::Firing,
                labels: labels(&[
                    ("alertname", "HighErrorRate"),
                    ("severity", "critical"),
                    ("endpoint", &format!("/e{i}")),
                ]),
                annotations: labels(&[("summary", "错误率超过 5 %")]),
                starts_at: "2026-12-01T09:30:00Z".into(),
                ends_at: "0001-01-01T00:00:00Z".into(),
                generator_url: String::new(),
                fingerprint: format!("{i:016x}"),
            })
            .collect(),
        truncated_alerts: 0,
    }
}

#[tokio::test]
async fn dingtalk_messages_are_signed_and_its_limit_is_a_retry() {
    let robots = robots();
    let client = http_client(std::time::Duration::from_secs(5)).unwrap();
    let robot = DingTalk {
        webhook_url: Secret::new(format!(
            "{}/dingtalk/robot/send?access_token={DINGTALK_TOKEN}",
            robots.base()
        )),
        secret: Some(Secret::new(DINGTALK_SECRET.into())),
        at_mobiles: vec!["13800138000".into()],
        at_all: false,
    };
    let n = notification();
    let title = template::render(template::TITLE, &n).unwrap();
    let text = template::render(template::MARKDOWN, &n).unwrap();
    robot.send(&client, &title, &text, now_ms()).await.unwrap();
    let got = robots.received("dingtalk");
    assert_eq!(got[0]["markdown"]["title"], "[FIRING:3] HighErrorRate");
    assert!(
        got[0]["markdown"]["text"]
            .as_str()
            .unwrap()
            .contains("@13800138000")
    );
    assert_eq!(got[0]["at"]["atMobiles"][0], "13800138000");

    // A wrong secret: DingTalk refuses the signature; retrying would repeat it.
    let wrong = DingTalk {
        secret: Some(Secret::new("SECwrong".into())),
        ..robot.clone()
    };
    let err = wrong
        .send(&client, &title, &text, now_ms())
        .await
        .unwrap_err();
    assert!(
        !err.retryable && err.message.contains("sign not match"),
        "{err:?}"
    );
    // A timestamp more than an hour old is refused the same way.
    let stale = robot
        .send(&client, &title, &text, now_ms() - 2 * 3_600_000)
        .await
        .unwrap_err();
    assert!(stale.message.contains("invalid timestamp"), "{stale:?}");
    // The 21st message in a minute meets the limit: retryable, after a minute.
    for _ in 1..20 {
        robot.send(&client, &title, &text, now_ms()).await.unwrap();
    }
    let limited = robot
        .send(&client, &title, &text, now_ms())
        .await
        .unwrap_err();
    assert!(limited.retryable, "{limited:?}");
    assert_eq!(
        limited.retry_after,
        Some(std::time::Duration::from_secs(60))
    );
    assert_eq!(robots.received("dingtalk").len(), 20);
    // The webhook URL (with its token) is not in the error.
    assert!(!limited.message.contains(DINGTALK_TOKEN));
}

#[tokio::test]
async fn wecom_feishu_slack_and_webhooks_take_their_own_shapes() {
    let robots = robots();
    let client = http_client(std::time::Duration::from_secs(5)).unwrap();
    let n = notification();
    let title = template::render(template::TITLE, &n).unwrap();
    let text = template::render(template::MARKDOWN, &n).unwrap();

    let wecom = WeCom {
        webhook_url: Secret::new(format!(
            "{}/wecom/cgi-bin/webhook/send?key=k1",
            robots.base()
        )),
        mentions: vec!["zhangsan".into()],
    };
    wecom.send(&client, &text).await.unwrap();
    // A message past WeCom's 4 096 bytes is cut (and still accepted), not refused.
    wecom.send(&client, &"告警".repeat(2000)).await.unwrap();
    let got = robots.received("wecom");
    assert!(
        got[0]["markdown"]["content"]
            .as_str()
            .unwrap()
            .ends_with("<@zhangsan>")
    );
    assert!(
        got[1]["markdown"]["content"]
            .as_str()
            .unwrap()
            .ends_with('…')
    );

    let feishu = Feishu {
        webhook_url: Secret::new(format!(
            "{}/feishu/open-apis/bot/v2/hook/abc",
            robots.base()
        )),
        secret: Some(Secret::new(FEISHU_SECRET.into())),
    };
    feishu.send(&client, &title, &text, now_ms()).await.unwrap();
    let wrong = Feishu {
        secret: Some(Secret::new("nope".into())),
        ..feishu.clone()
    };
    let err = wrong
        .send(&client, &title, &text, now_ms())
        .await
        .unwrap_err();
    assert!(!err.retryable && err.message.contains("19021"), "{err:?}");
    let got = robots.received("feishu");
    assert_eq!(got.len(), 1, "only the signed message got through");
    assert_eq!(
        got[0]["content"]["post"]["zh_cn"]["title"],
        "[FIRING:3] HighErrorRate"
    );

    let slack = Slack {
        webhook_url: Secret::new(format!("{}/slack/services/T0/B0/x", robots.base())),
    };
    slack.send(&client, &title, &text).await.unwrap();
    // A second message within the same second: 429 with Retry-After, retryable.
    let limited = slack.send(&client, &title, &text).await.unwrap_err();
    assert!(limited.retryable);
    assert_eq!(limited.retry_after, Some(std::time::Duration::from_secs(1)));
    let got = robots.received("slack");
    assert_eq!(got[0]["blocks"][0]["type"], "header");

    let webhook = Webhook {
        url: Secret::new(format!("{}/webhook", robots.base())),
        bearer_token: Some(Secret::new("t0ken".into())),
        max_alerts: 2,
    };
    webhook
        .send(&client, &n, "desk:g1:1:webhook_configs[0]")
        .await
        .unwrap();
    let got = robots.received("webhook");
    assert_eq!(got[0]["authorization"], "Bearer t0ken");
    // The key a receiver deduplicates a repeated send by.
    assert_eq!(got[0]["key"], "desk:g1:1:webhook_configs[0]");
    assert_eq!(got[0]["body"]["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(got[0]["body"]["truncatedAlerts"], 1);

    // A service that is down: 503 is retryable.
    robots.control("down", "webhook", 60.0);
    let down = webhook
        .send(&client, &n, "desk:g1:2:webhook_configs[0]")
        .await
        .unwrap_err();
    assert!(down.retryable && down.message.contains("503"), "{down:?}");
}

#[tokio::test]
async fn aliyun_sms_is_signed_and_a_reused_nonce_or_wrong_secret_is_refused() {
    let robots = robots();
    let client = http_client(std::time::Duration::from_secs(5)).unwrap();
    let n = notification();
    let text = template::render(template::SMS, &n).unwrap();
    let sms = AliyunSms {
        endpoint: format!("{}/aliyun/", robots.base()),
        access_key_id: ALIYUN_ID.into(),
        access_key_secret: Secret::new(ALIYUN_SECRET.into()),
        sign_name: "QCAT".into(),
        template_code: "SMS_123456".into(),
        phone_numbers: vec!["13800138000".into()],
        region: "cn-hangzhou".into(),
    };
    sms.send(&client, &text, now_ms(), "nonce-1").await.unwrap();
    let got = robots.received("aliyun");
    assert_eq!(
        got[0]["TemplateParam"],
        serde_json::json!({ "alert": text }).to_string()
    );
    // A replayed nonce is refused by Aliyun; a wrong secret too; neither is retried.
    let replay = sms
        .send(&client, &text, now_ms(), "nonce-1")
        .await
        .unwrap_err();
    assert!(
        !replay.retryable && replay.message.contains("SignatureNonceUsed"),
        "{replay:?}"
    );
    let wrong = AliyunSms {
        access_key_secret: Secret::new("wrong".into()),
        ..sms.clone()
    };
    let err = wrong
        .send(&client, &text, now_ms(), "nonce-2")
        .await
        .unwrap_err();
    assert!(err.message.contains("SignatureDoesNotMatch"), "{err:?}");
    // The same phone again within the minute: Aliyun's limit, retryable.
    let limited = sms
        .send(&client, &text, now_ms(), "nonce-3")
        .await
        .unwrap_err();
    assert!(
        limited.retryable && limited.message.contains("BUSINESS_LIMIT_CONTROL"),
        "{limited:?}"
    );
}
