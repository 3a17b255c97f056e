//! A local stand-in for the booking directory (`BOOKINGS_URL`): the
//! Supabase/PostgREST shape the backend reads,
//! `GET /bookings?id=eq.{id}&select=customer_id,provider_id` with
//! `apikey` and `Authorization: Bearer` set to the key, answering a JSON
//! array of 0 or 1 rows. `make run` seeds the demo bookings; tests seed
//! their own, or make it fail.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The key `make run` and the tests configure (`BOOKINGS_KEY`).
pub const DEV_BOOKINGS_KEY: &str = "dev-bookings-service-key";

/// What the next lookups do instead of answering.
#[derive(Clone, Copy, Debug)]
pub enum DirectoryFault {
    /// Answer this HTTP status with an error body.
    Status(u16),
    /// Answer after this long (longer than the backend's timeout).
    Stall(Duration),
}

#[derive(Default)]
struct Inner {
    bookings: HashMap<String, (String, String)>,
    /// The parties of any booking not seeded (tests' catch-all), if any.
    fallback: Option<(String, String)>,
    fault: Option<DirectoryFault>,
    lookups: Vec<String>,
}

#[derive(Clone)]
pub struct BookingDirectoryStandIn {
    key: String,
    inner: Arc<Mutex<Inner>>,
}

impl Default for BookingDirectoryStandIn {
    fn default() -> Self {
        Self::new(DEV_BOOKINGS_KEY)
    }
}

impl BookingDirectoryStandIn {
    pub fn new(key: &str) -> Self {
        Self {
            key: key.into(),
            inner: Arc::default(),
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record a booking between `customer` and `provider`.
    pub fn seed(&self, booking_id: &str, customer: &str, provider: &str) {
        self.lock()
            .bookings
            .insert(booking_id.into(), (customer.into(), provider.into()));
    }

    /// Answer every booking not seeded as one between these two.
    pub fn set_fallback(&self, customer: &str, provider: &str) {
        self.lock().fallback = Some((customer.into(), provider.into()));
    }

    /// Know only the seeded bookings again.
    pub fn clear_fallback(&self) {
        self.lock().fallback = None;
    }

    /// Fail (or stall) every lookup until [`Self::heal`].
    pub fn fail(&self, fault: DirectoryFault) {
        self.lock().fault = Some(fault);
    }

    pub fn heal(&self) {
        self.lock().fault = None;
    }

    /// The booking ids looked up so far.
    pub fn lookups(&self) -> Vec<String> {
        self.lock().lookups.clone()
    }

    /// Serve on `addr` (e.g. `127.0.0.1:0`); returns the base URL.
    pub async fn serve(&self, addr: &str) -> std::io::Result<String> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let base = format!("http://{}", listener.local_addr()?);
        let router = self.router();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(base)
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/bookings", get(lookup))
            .with_state(self.clone())
    }
}

async fn lookup(
    State(s): State<BookingDirectoryStandIn>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let bearer = format!("Bearer {}", s.key);
    if header("apikey") != Some(s.key.as_str()) || header("authorization") != Some(&bearer) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "Invalid API key"})),
        )
            .into_response();
    }
    let (Some(id), Some("customer_id,provider_id")) = (
        query.get("id").and_then(|f| f.strip_prefix("eq.")),
        query.get("select").map(String::as_str),
    ) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"message": "expected id=eq.{id}&select=customer_id,provider_id"})),
        )
            .into_response();
    };
    let (fault, row) = {
        let mut inner = s.lock();
        inner.lookups.push(id.to_string());
        let row = inner
            .bookings
            .get(id)
            .cloned()
            .or_else(|| inner.fallback.clone());
        (inner.fault, row)
    };
    match fault {
        Some(DirectoryFault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return (status, axum::Json(json!({"message": "injected"}))).into_response();
        }
        Some(DirectoryFault::Stall(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let rows = match row {
        Some((customer, provider)) => json!([{"customer_id": customer, "provider_id": provider}]),
        None => json!([]),
    };
    axum::Json(rows).into_response()
}
