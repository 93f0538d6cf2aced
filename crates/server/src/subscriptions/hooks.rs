//! `[subscriptions.hooks]`: the server POSTs JSON to the configured URLs. `on_connect` (after
//! `connection_init`) and `on_subscribe` (before a subscription starts) decide, fail-closed:
//! anything but a 2xx answer within `timeout_ms` (an error, a timeout, a redirect) refuses.
//! `on_disconnect` is told when an initialised connection ends and is not waited for.
//!
//! Bodies (`event` says which):
//! - connect: `{"event":"connect","connection_id","remote_addr","protocol","payload"}`,
//!   `payload` being the `connection_init` payload (`{}` when none);
//! - subscribe: the same plus `"id"`, `"query"`, `"operation_name"`, `"variables"`;
//! - disconnect: the connect body plus `"duration_ms"`.

use fraiseql_engine::config::SubscriptionHooks;
use serde_json::Value;
use std::time::Duration;

/// The hook client: one connection pool for every connection's calls.
pub(crate) struct Hooks {
    config: SubscriptionHooks,
    client: reqwest::Client,
}

/// Why a hook refused.
#[derive(Debug)]
pub(crate) struct Refused(pub(crate) String);

impl Hooks {
    pub(crate) fn new(config: SubscriptionHooks) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms.0))
            // A redirect is not an answer: a hook that moved must be configured again.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self { config, client }
    }

    pub(crate) fn on_connect(&self) -> Option<&str> {
        self.config.on_connect.as_deref()
    }

    pub(crate) fn on_subscribe(&self) -> Option<&str> {
        self.config.on_subscribe.as_deref()
    }

    pub(crate) fn on_disconnect(&self) -> Option<&str> {
        self.config.on_disconnect.as_deref()
    }

    /// POSTs `body` to `url`; `Ok` on a 2xx answer within the timeout.
    pub(crate) async fn ask(&self, url: &str, body: &Value) -> Result<(), Refused> {
        match self.client.post(url).json(body).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(Refused(format!("answered HTTP {}", r.status().as_u16()))),
            Err(e) if e.is_timeout() => Err(Refused(format!(
                "no answer within {} ms",
                self.config.timeout_ms.0
            ))),
            Err(e) => Err(Refused(format!(
                "could not be reached: {}",
                crate::log::clip(&e.to_string())
            ))),
        }
    }

    /// POSTs `body` to `url` in the background; failures are logged.
    pub(crate) fn tell(&self, url: &str, body: Value) {
        let client = self.client.clone();
        let url = url.to_owned();
        tokio::spawn(async move {
            match client.post(&url).json(&body).send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => {
                    tracing::warn!(
                        status = r.status().as_u16(),
                        "[subscriptions.hooks] on_disconnect answered with an error"
                    )
                }
                Err(e) => {
                    tracing::warn!(error = %crate::log::clip(&e.to_string()), "[subscriptions.hooks] on_disconnect failed")
                }
            }
        });
    }
}
