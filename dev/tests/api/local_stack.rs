//! `make run`'s stack (`dev::stack::start` with the Twilio stand-in).

use crate::helpers::*;
use dev::stack::{self, StackOptions};
use dev::standin::StandIn;
use std::collections::HashMap;

/// Issue 8 item 16: with TWILIO_AUTH_TOKEN set, `make run` used to replace
/// it with the stand-in's dev token, so webhooks were checked with a token
/// the user never configured.
#[tokio::test]
async fn when_make_run_has_a_twilio_auth_token_webhooks_should_be_checked_and_signed_with_it() {
    endpoint_or_explain();
    let table = format!("local-{}", ulid::Ulid::new().to_string().to_lowercase());
    let overrides: HashMap<String, String> = [
        ("TABLE_NAME", table.as_str()),
        ("AUTH_JWT_SECRET", SECRET),
        ("TWILIO_AUTH_TOKEN", "my-own-auth-token-0123"),
        ("DEFAULT_ORG_ID", "org_local"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let stack = stack::start(StackOptions {
        gateway_addr: "127.0.0.1:0".into(),
        standin_addr: Some("127.0.0.1:0".into()),
        overrides,
        ..Default::default()
    })
    .await
    .expect("local stack");
    let (standin, _) = stack.standin.as_ref().expect("the stand-in runs");
    assert_eq!(standin.auth_token(), "my-own-auth-token-0123");
    assert_eq!(stack.app.config.twilio.password, "my-own-auth-token-0123");

    let sid = standin.new_message_sid();
    let params =
        standin.inbound_params(&sid, "whatsapp:+15551230000", "whatsapp:+15550009999", "hi");
    let (status, answer) = standin
        .send_webhook("/webhooks/twilio/messaging", &params)
        .await
        .expect("webhook");
    assert_eq!(status, 200, "signed with the configured token: {answer}");

    // Signed with the stand-in's default dev token: refused.
    let dev_signed = StandIn::default();
    dev_signed.set_webhook_base(&stack.base_url);
    let (status, answer) = dev_signed
        .send_webhook("/webhooks/twilio/messaging", &params)
        .await
        .expect("webhook");
    assert_eq!(status, 403, "{answer}");
}
