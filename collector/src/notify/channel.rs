//! Notification channels: where notifications go (a webhook or email recipients).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Shown instead of a webhook secret in API answers; sending it back keeps the stored secret.
pub const REDACTED: &str = "********";

/// The kind of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// JSON POST signed with HMAC-SHA256.
    Webhook,
    /// Email through the configured SMTP server.
    Email,
}

impl ChannelKind {
    /// The snake_case name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Email => "email",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<ChannelKind> {
        match s {
            "webhook" => Some(ChannelKind::Webhook),
            "email" => Some(ChannelKind::Email),
            _ => None,
        }
    }
}

/// Configuration of a webhook channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http://` or `https://` URL receiving the POST.
    pub url: String,
    /// Shared secret of the HMAC signature.
    pub secret: String,
}

/// Configuration of an email channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// Recipient addresses.
    pub to: Vec<String>,
}

/// A channel's typed configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelConfig {
    /// Webhook.
    Webhook(WebhookConfig),
    /// Email.
    Email(EmailConfig),
}

impl ChannelConfig {
    /// Parses and validates `config` for `kind`; errors name the field (`config.url: ...`).
    pub fn parse(kind: ChannelKind, config: &Value) -> Result<ChannelConfig, String> {
        fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, String> {
            serde_path_to_error::deserialize(v).map_err(|e| {
                let path = e.path().to_string();
                let at = if path == "." {
                    "config".to_string()
                } else {
                    format!("config.{path}")
                };
                format!("{at}: {}", e.inner())
            })
        }
        match kind {
            ChannelKind::Webhook => {
                let c: WebhookConfig = typed(config)?;
                let url = reqwest::Url::parse(&c.url)
                    .map_err(|e| format!("config.url: not a URL: {e}"))?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err("config.url: must be an http:// or https:// URL".into());
                }
                if c.secret.is_empty() {
                    return Err("config.secret: must not be empty".into());
                }
                Ok(ChannelConfig::Webhook(c))
            }
            ChannelKind::Email => {
                let c: EmailConfig = typed(config)?;
                if c.to.is_empty() {
                    return Err("config.to: needs at least one address".into());
                }
                for (i, a) in c.to.iter().enumerate() {
                    a.parse::<lettre::message::Mailbox>()
                        .map_err(|e| format!("config.to[{i}]: not an email address: {e}"))?;
                }
                Ok(ChannelConfig::Email(c))
            }
        }
    }
}

/// A channel to create or replace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    /// Unique name.
    pub name: String,
    /// Webhook or email.
    pub kind: ChannelKind,
    /// `{"url", "secret"}` for webhooks, `{"to": [...]}` for email.
    pub config: Value,
}

impl NewChannel {
    /// Validates the name and the configuration, naming the bad field.
    pub fn validate(&self) -> Result<ChannelConfig, String> {
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return Err("name: must be 1 to 200 bytes, not blank".into());
        }
        ChannelConfig::parse(self.kind, &self.config)
    }
}

/// A stored channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Webhook or email.
    pub kind: ChannelKind,
    /// Configuration (webhook secrets are redacted in API answers).
    pub config: Value,
    /// Created, Unix milliseconds.
    pub created_at: i64,
    /// Last changed, Unix milliseconds.
    pub updated_at: i64,
}

impl Channel {
    /// The typed configuration.
    pub fn typed_config(&self) -> Result<ChannelConfig, String> {
        ChannelConfig::parse(self.kind, &self.config)
    }

    /// A copy safe to show: the webhook secret replaced by [`REDACTED`].
    pub fn redacted(mut self) -> Channel {
        if let Some(s) = self.config.get_mut("secret") {
            *s = Value::String(REDACTED.into());
        }
        self
    }
}
