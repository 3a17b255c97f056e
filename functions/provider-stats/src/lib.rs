//! `GET /stats/providers`: per provider (twilio, meta, kommo) of the
//! caller's org: total, active, escalated, within_24h.

use lambda_http::{Body, Request, Response};
use shared::inbox::stats::provider_stats;
use shared::{ApiError, App, http};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(run(app, &req).await)
}

async fn run(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.auth.caller(req)?;
    let org = http::query_param(req, "org_id");
    let stats = provider_stats(app, &caller, org.as_deref()).await?;
    Ok(http::json(200, &stats))
}
