//! E-mail over SMTP (lettre): STARTTLS on the submission port, implicit TLS (SMTPS), or —
//! only to a loopback relay — plain; HTML and plain text as alternatives, the chart of the
//! breach inline in the HTML (`cid:chart`, a PNG drawn by the report crate). A 4xx reply
//! or a connection failure can be retried; a 5xx (a refused recipient, failed
//! authentication) cannot.

use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncTransport, Message, Tokio1Executor};
use qcat_core::secret::Secret;

use super::SendError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// STARTTLS is required (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: refused unless the server is on this machine.
    None,
}

#[derive(Debug, Clone)]
pub struct Email {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    pub password: Option<Secret<String>>,
    pub from: String,
    pub to: Vec<String>,
    /// A PEM certificate to trust besides the public roots (a private CA, a test server).
    pub extra_root_pem: Option<Vec<u8>>,
    pub timeout: std::time::Duration,
}

/// What is sent.
#[derive(Debug, Clone)]
pub struct EmailContent {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// A PNG shown where the HTML has `<img src="cid:chart">`.
    pub chart_png: Option<Vec<u8>>,
}

fn mailbox(field: &str, text: &str) -> Result<Mailbox, SendError> {
    text.parse().map_err(|err| {
        SendError::permanent(format!(
            "e-mail {field}: {text:?} is not an address ({err})"
        ))
    })
}

impl Email {
    /// The message as it goes on the wire.
    pub fn message(&self, content: &EmailContent) -> Result<Message, SendError> {
        let mut builder = Message::builder()
            .from(mailbox("from", &self.from)?)
            .subject(content.subject.clone());
        if self.to.is_empty() {
            return Err(SendError::permanent("e-mail to: no recipient"));
        }
        for to in &self.to {
            builder = builder.to(mailbox("to", to)?);
        }
        let mut related = MultiPart::related().singlepart(SinglePart::html(content.html.clone()));
        if let Some(png) = &content.chart_png {
            related = related.singlepart(Attachment::new_inline("chart".to_owned()).body(
                png.clone(),
                ContentType::parse("image/png").expect("a MIME type"),
            ));
        }
        let body = MultiPart::alternative()
            .singlepart(SinglePart::plain(content.text.clone()))
            .multipart(related);
        builder.multipart(body).map_err(|err| {
            SendError::permanent(format!("e-mail: the message could not be built: {err}"))
        })
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls = || -> Result<TlsParameters, SendError> {
            let mut parameters = TlsParameters::builder(self.host.clone());
            if let Some(pem) = &self.extra_root_pem {
                let certificate = Certificate::from_pem(pem).map_err(|err| {
                    SendError::permanent(format!("e-mail: the extra root certificate: {err}"))
                })?;
                parameters = parameters.add_root_certificate(certificate);
            }
            parameters
                .build_rustls()
                .map_err(|err| SendError::permanent(format!("e-mail TLS: {err}")))
        };
        let tls = match self.security {
            Security::StartTls => Tls::Required(tls()?),
            Security::Tls => Tls::Wrapper(tls()?),
            Security::None => {
                let loopback = self.host == "localhost"
                    || self
                        .host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback());
                if !loopback {
                    return Err(SendError::permanent(format!(
                        "e-mail: {} is not on this machine; use starttls or tls (a password and the alerts would cross the network in clear)",
                        self.host
                    )));
                }
                Tls::None
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .port(self.port)
            .tls(tls)
            .timeout(Some(self.timeout));
        if let (Some(user), Some(password)) = (&self.username, &self.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().clone()));
        }
        Ok(builder.build())
    }

    pub async fn send(&self, content: &EmailContent) -> Result<(), SendError> {
        let message = self.message(content)?;
        let transport = self.transport()?;
        match transport.send(message).await {
            Ok(_) => Ok(()),
            Err(err) => {
                // lettre tells a permanent (5xx) reply apart from the rest.
                let retryable = !err.is_permanent();
                let mut message = format!("e-mail via {}:{}: {err}", self.host, self.port);
                if let Some(password) = &self.password {
                    message = message.replace(password.expose().as_str(), "<redacted>");
                }
                Err(SendError {
                    message,
                    retryable,
                    retry_after: None,
                })
            }
        }
    }
}
