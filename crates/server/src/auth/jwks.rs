//! The signing keys of an `[auth]` JWKS: fetched from `jwks_url`, or from the `jwks_uri` of
//! the issuer's OIDC discovery document, and kept for `jwks_cache_secs`. A token whose `kid`
//! the cache lacks fetches them again (key rotation); every fetch (also for missing or
//! expired keys) happens at most once per `jwks_min_refresh_secs`, one at a time. When the
//! endpoint cannot be reached, the keys already fetched keep working until they expire;
//! then tokens are refused.

use fraiseql_engine::config::AuthConfig;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::str::FromStr;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// Largest key document or discovery document read.
const MAX_DOCUMENT: usize = 1024 * 1024;
/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// One usable key.
struct Key {
    kid: Option<String>,
    /// The JWK's `alg`, when it names one.
    alg: Option<Algorithm>,
    key: DecodingKey,
}

struct Cached {
    keys: Vec<Key>,
    fetched: Instant,
    /// Counts fetches: a token verified with keys of another generation is checked again.
    generation: u64,
}

pub(crate) struct Jwks {
    jwks_url: Option<String>,
    discovery: Option<String>,
    ttl: Duration,
    min_refresh: Duration,
    client: reqwest::Client,
    cache: RwLock<Option<Cached>>,
    /// When the last fetch started; held across a fetch so only one runs.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
}

impl Jwks {
    pub(crate) fn new(config: &AuthConfig) -> Self {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            jwks_url: config.jwks_url.clone(),
            discovery: config.discovery(),
            ttl: Duration::from_secs(config.jwks_cache_secs),
            min_refresh: Duration::from_secs(config.jwks_min_refresh_secs),
            client,
            cache: RwLock::new(None),
            last_fetch: tokio::sync::Mutex::new(None),
        }
    }

    /// The generation of the keys, while they are fresh.
    pub(crate) fn current(&self) -> Option<u64> {
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        cache
            .as_ref()
            .filter(|c| c.fetched.elapsed() <= self.ttl)
            .map(|c| c.generation)
    }

    /// The key for a token's `kid` and `alg`, with the generation of the keys it is from;
    /// fetches the keys when they are missing, expired, or lack the `kid`.
    pub(crate) async fn key(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<(DecodingKey, u64), String> {
        if let Lookup::Found(key) = self.lookup(kid, alg) {
            return Ok(key);
        }
        // Missing, expired, or (rotation) the issuer may have published a new key since.
        self.refresh().await?;
        match self.lookup(kid, alg) {
            Lookup::Found(key) => Ok(key),
            Lookup::Expired | Lookup::Empty => Err("no signing keys".into()),
            Lookup::Unknown => Err(format!(
                "no signing key for kid {:?} and {alg:?}",
                kid.map(crate::log::clip)
            )),
        }
    }

    fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Lookup {
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        let Some(cached) = cache.as_ref() else {
            return Lookup::Empty;
        };
        if cached.fetched.elapsed() > self.ttl {
            return Lookup::Expired;
        }
        let usable = |k: &&Key| k.alg.is_none_or(|a| a == alg) && k.key.family() == alg.family();
        let found = match kid {
            Some(kid) => cached
                .keys
                .iter()
                .filter(usable)
                .find(|k| k.kid.as_deref() == Some(kid)),
            // No kid: only when exactly one key could sign it.
            None => {
                let mut candidates = cached.keys.iter().filter(usable);
                match (candidates.next(), candidates.next()) {
                    (Some(one), None) => Some(one),
                    _ => None,
                }
            }
        };
        match found {
            Some(k) => Lookup::Found((k.key.clone(), cached.generation)),
            None => Lookup::Unknown,
        }
    }

    /// Fetches the keys, unless a fetch started within `jwks_min_refresh_secs` (whether it
    /// succeeded or not): a flood of unknown `kid`s, or of tokens while the endpoint is down,
    /// costs the issuer one request per interval, and the requests that waited use what it
    /// brought.
    pub(crate) async fn refresh(&self) -> Result<(), String> {
        let mut last = self.last_fetch.lock().await;
        if last.is_some_and(|at| at.elapsed() < self.min_refresh) {
            return Ok(());
        }
        *last = Some(Instant::now());
        let keys = self.fetch().await?;
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        let generation = cache.as_ref().map_or(0, |c| c.generation + 1);
        *cache = Some(Cached {
            keys,
            fetched: Instant::now(),
            generation,
        });
        Ok(())
    }

    async fn fetch(&self) -> Result<Vec<Key>, String> {
        let url = match (&self.jwks_url, &self.discovery) {
            (Some(url), _) => url.clone(),
            (None, Some(discovery)) => {
                let doc: serde_json::Value = self.get_json(discovery).await?;
                doc.get("jwks_uri")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{discovery} has no `jwks_uri`"))?
            }
            (None, None) => return Err("no JWKS URL".into()),
        };
        let set: JwkSet = self.get_json(&url).await?;
        let keys: Vec<Key> = set.keys.iter().filter_map(usable_key).collect();
        if keys.is_empty() {
            return Err(format!("{url} has no usable signing key"));
        }
        tracing::info!(url = %url, keys = keys.len(), "[auth] signing keys fetched");
        Ok(keys)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{url}: {}", crate::log::clip(&e.to_string())))?;
        if !response.status().is_success() {
            return Err(format!(
                "{url} answered HTTP {}",
                response.status().as_u16()
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("{url}: {}", crate::log::clip(&e.to_string())))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DOCUMENT {
                return Err(format!("{url}: larger than {MAX_DOCUMENT} bytes"));
            }
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url}: not the expected JSON: {e}"))
    }
}

enum Lookup {
    /// The key and the generation of the keys it is from.
    Found((DecodingKey, u64)),
    Unknown,
    Expired,
    Empty,
}

/// A signing key of the set, or `None` (an encryption key, a symmetric one, one that does
/// not parse).
fn usable_key(jwk: &Jwk) -> Option<Key> {
    use jsonwebtoken::jwk::{AlgorithmParameters, PublicKeyUse};
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    // A symmetric key in a public set is never a way to verify.
    if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
        return None;
    }
    let alg = match jwk.common.key_algorithm {
        Some(a) => Some(Algorithm::from_str(&format!("{a}")).ok()?),
        None => None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(Key {
        kid: jwk.common.key_id.clone(),
        alg,
        key,
    })
}
