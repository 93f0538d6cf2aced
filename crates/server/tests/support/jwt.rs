//! Tokens and a JWKS server for the auth tests: signing keys of each family (RSA from a
//! test-only PEM file, P-256 and Ed25519 generated per test by rcgen), tokens signed with
//! them, hand-made hostile tokens, and a local HTTP server publishing a JWK set (and an OIDC
//! discovery document) that a test can change, count requests to, or take down.

use axum::{extract::State, http::StatusCode, response::IntoResponse, routing::get, Json, Router};
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The HS256 secret the tests configure.
pub(crate) const SECRET: &str = "a-test-secret-of-at-least-32-bytes!!";

/// A signing key and its algorithm.
#[derive(Clone)]
pub(crate) struct Signer {
    pub(crate) alg: Algorithm,
    pub(crate) kid: String,
    key: EncodingKey,
    /// The public key as JWK parameters, when jsonwebtoken cannot derive them (Ed25519).
    public: Option<Value>,
}

impl Signer {
    pub(crate) fn rsa(kid: &str) -> Self {
        let pem = include_bytes!("keys/rsa_test_only.pem");
        Self {
            alg: Algorithm::RS256,
            kid: kid.into(),
            key: EncodingKey::from_rsa_pem(pem).expect("RSA test key"),
            public: None,
        }
    }

    pub(crate) fn ec(kid: &str) -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        Self {
            alg: Algorithm::ES256,
            kid: kid.into(),
            key: EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap(),
            public: None,
        }
    }

    pub(crate) fn ed(kid: &str) -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        Self {
            alg: Algorithm::EdDSA,
            kid: kid.into(),
            key: EncodingKey::from_ed_pem(pair.serialize_pem().as_bytes()).unwrap(),
            public: Some(json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key_raw())})),
        }
    }

    pub(crate) fn hmac(secret: &str) -> Self {
        Self {
            alg: Algorithm::HS256,
            kid: String::new(),
            key: EncodingKey::from_secret(secret.as_bytes()).unwrap(),
            public: None,
        }
    }

    /// The public half as a JWK (`kid`, `alg`, `use: sig`).
    pub(crate) fn jwk(&self) -> Jwk {
        let mut jwk = match &self.public {
            Some(params) => {
                let mut v = params.clone();
                v["alg"] = json!("EdDSA");
                serde_json::from_value(v).unwrap()
            }
            None => Jwk::from_encoding_key(&self.key, self.alg).unwrap(),
        };
        jwk.common.key_id = Some(self.kid.clone());
        jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
        jwk
    }

    /// A token with `claims`, its header naming this key's `kid` (none when empty).
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        if !self.kid.is_empty() {
            header.kid = Some(self.kid.clone());
        }
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

/// Seconds since the epoch.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims valid for an hour, for `sub`, with `extra` merged in.
pub(crate) fn claims(sub: &str, extra: Value) -> Value {
    let mut c = json!({"sub": sub, "iat": now(), "exp": now() + 3600});
    if let (Some(c), Value::Object(extra)) = (c.as_object_mut(), extra) {
        c.extend(extra);
    }
    c
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An unsigned token (`alg: none`) with `claims`.
pub(crate) fn unsigned(claims: &Value) -> String {
    let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{}.", b64(claims.to_string().as_bytes()))
}

/// `token` with its payload replaced by `claims`, the signature kept (a forgery).
pub(crate) fn tampered(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!(
        "{}.{}.{}",
        parts[0],
        b64(claims.to_string().as_bytes()),
        parts[2]
    )
}

/// An HS256 token whose secret is `key_text` (an attacker signing with a public key).
pub(crate) fn hs256_with(key_text: &str, claims: &Value, kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(key_text.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// What the JWKS server serves and has seen.
#[derive(Default)]
pub(crate) struct Published {
    pub(crate) keys: Mutex<Vec<Jwk>>,
    /// Requests for the key set.
    pub(crate) fetches: AtomicUsize,
    /// Answers 503 while set.
    pub(crate) down: AtomicBool,
}

/// A JWKS server on a free port: `/jwks.json` and `/.well-known/openid-configuration`
/// (its `jwks_uri` pointing at the first). Returns its base URL.
pub(crate) async fn jwks_server(published: Arc<Published>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let discovery = json!({"issuer": base, "jwks_uri": format!("{base}/jwks.json")});
    let app = Router::new()
        .route(
            "/jwks.json",
            get(|State(p): State<Arc<Published>>| async move {
                p.fetches.fetch_add(1, Ordering::SeqCst);
                if p.down.load(Ordering::SeqCst) {
                    return StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
                let keys = p.keys.lock().unwrap().clone();
                Json(JwkSet { keys }).into_response()
            }),
        )
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { Json(discovery) }),
        )
        .with_state(published);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}
