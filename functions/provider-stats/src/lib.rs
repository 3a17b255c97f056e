//! `GET /stats/providers`: per provider (twilio, meta, kommo) of the
//! caller's org: total, active, escalated, within_24h.

use lambda_http::{Body, Request, Response};
use shared::inbox::stats::provider_stats;
use shared::{ApiError, Core, http};

pub async fn handle(app: &Core, req: Request) -> Response<Body> {
    http::respond(run(app, &req).await)
}

async fn run(app: &Core, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.auth.caller(req)?;
    let org = http::query_param(req, "org_id");
    let stats = provider_stats(app, &caller, org.as_deref()).await?;
    Ok(http::json(200, &stats))
}

/// The sample events in `events/` are this function's input.
#[cfg(test)]
mod tests {
    #[test]
    fn when_the_sample_event_provider_stats_is_replayed_it_should_be_this_route() {
        let event = include_str!("../../../events/provider-stats.json");
        let req = shared::lambda::sample_request(event, "GET", "/stats/providers").unwrap();
        assert!(
            shared::lambda::sample_caller(&req).is_ok(),
            "a valid local dev token"
        );
    }
}
