//! Issue 11 part 4 (media): inbound media is fetched by the processor into
//! S3 (the emulator's, over SigV4) and shown to agents as short-lived
//! presigned URLs; credentials go only to the provider's own hosts; size and
//! type are checked; failures are retried, then recorded, and never hold the
//! text back.

use crate::helpers::*;
use crate::meta::meta_conv;
use dev::standin::{Fault, ForeignHost};
use serde_json::{Value, json};
use shared::inbox::inbox_conversation_id;

const ORG: &str = "org_media";
const BUSINESS: &str = "whatsapp:+15550005555";
const CONTACT: &str = "whatsapp:+15551235555";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0 not really a jpeg, but bytes all the same";

fn agent() -> String {
    agent_of("agent_m", ORG)
}

/// An inbound WhatsApp message with one medium at `media_url`, sent as
/// `account` (signed with its token).
async fn inbound_with_media(t: &TestApp, account: &str, sid: &str, media_url: &str, ct: &str) {
    let mut p = t
        .standin
        .inbound_params(sid, CONTACT, BUSINESS, "see attached");
    p.retain(|(k, _)| k != "NumMedia");
    p.push(("NumMedia".into(), "1".into()));
    p.push(("MediaUrl0".into(), media_url.into()));
    p.push(("MediaContentType0".into(), ct.into()));
    let (status, answer) = t
        .standin
        .send_webhook_as(account, "/webhooks/twilio/messaging", &p)
        .await
        .unwrap();
    assert_eq!(status, 200, "{answer}");
    t.drain().await;
}

/// Twilio answers the next `times` fetches of the medium at `url` with
/// `status`.
fn fail_media(t: &TestApp, url: &str, status: u16, times: usize) {
    t.standin.inject(Fault {
        method: "GET",
        path_suffix: url.rsplit("/Media/").next().unwrap().to_string(),
        status,
        body: json!({"code": 20000 + u32::from(status), "message": "failing", "status": status}),
        delay: std::time::Duration::ZERO,
        times,
    });
}

async fn last_message(t: &TestApp, conv: &str) -> Value {
    t.messages(conv, &agent())
        .await
        .last()
        .cloned()
        .expect("a message")
}

async fn download(url: &str) -> (u16, Vec<u8>) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

fn conv() -> String {
    inbox_conversation_id(ORG, "twilio", "whatsapp", CONTACT)
}

#[tokio::test]
async fn when_a_contact_sends_a_photo_the_agent_should_get_it_from_s3_by_a_presigned_url() {
    let t = spawn_app().await;
    t.register_number(BUSINESS, ORG).await;
    let sid = t.standin.new_message_sid();
    let account = t.standin.account_sid().to_string();
    let url = t
        .standin
        .add_media(&account, &sid, "image/jpeg", JPEG, None);
    inbound_with_media(&t, &account, &sid, &url, "image/jpeg").await;

    let m = last_message(&t, &conv()).await;
    assert_eq!(m["body"], "see attached");
    let medium = &m["media"][0];
    assert_eq!(medium["size"], JPEG.len(), "{m}");
    assert_eq!(medium["stored_content_type"], "image/jpeg");
    let link = medium["download_url"].as_str().expect("a download URL");
    assert!(link.contains("X-Amz-Expires=900"), "{link}");
    assert!(link.contains("X-Amz-Signature="), "{link}");
    assert_eq!(download(link).await, (200, JPEG.to_vec()));
    // Fetched once, with the account's credentials, from Twilio's host.
    let fetches: Vec<_> = t
        .standin
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/Media/"))
        .collect();
    assert_eq!(fetches.len(), 1);
    assert_eq!(fetches[0].user.as_deref(), Some(account.as_str()));
}

#[tokio::test]
async fn when_twilio_redirects_media_to_a_foreign_host_the_credentials_should_not_follow() {
    let t = spawn_app().await;
    t.register_number(BUSINESS, ORG).await;
    let cdn = ForeignHost::default();
    let cdn_base = cdn.serve().await.unwrap();
    cdn.put("/media.twiliocdn.com/abc.jpg", "image/jpeg", JPEG);
    let sid = t.standin.new_message_sid();
    let account = t.standin.account_sid().to_string();
    let url = t.standin.add_media(
        &account,
        &sid,
        "image/jpeg",
        b"",
        Some(&format!("{cdn_base}/media.twiliocdn.com/abc.jpg")),
    );
    inbound_with_media(&t, &account, &sid, &url, "image/jpeg").await;

    let seen = cdn.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [("/media.twiliocdn.com/abc.jpg".to_string(), None)],
        "the CDN was asked once, without any Authorization header"
    );
    let m = last_message(&t, &conv()).await;
    let link = m["media"][0]["download_url"].as_str().expect("stored");
    assert_eq!(download(link).await, (200, JPEG.to_vec()));
}

#[tokio::test]
async fn when_a_medium_is_refused_or_unreachable_the_text_should_stay_and_the_error_be_recorded() {
    let t = spawn_app().await;
    t.register_number(BUSINESS, ORG).await;
    let account = t.standin.account_sid().to_string();

    // A type outside the allow-list: refused, recorded, nothing stored.
    let sid = t.standin.new_message_sid();
    let url = t
        .standin
        .add_media(&account, &sid, "text/html", b"<script>", None);
    inbound_with_media(&t, &account, &sid, &url, "text/html").await;
    let m = last_message(&t, &conv()).await;
    assert_eq!(m["body"], "see attached");
    assert_eq!(m["media"][0]["error"], "type_not_allowed", "{m}");
    assert!(m["media"][0].get("download_url").is_none());

    // Too large (16 MB is the limit).
    let sid = t.standin.new_message_sid();
    let big = vec![0u8; shared::media::MAX_MEDIA_BYTES + 1];
    let url = t.standin.add_media(&account, &sid, "video/mp4", &big, None);
    inbound_with_media(&t, &account, &sid, &url, "video/mp4").await;
    assert_eq!(
        last_message(&t, &conv()).await["media"][0]["error"],
        "too_large"
    );

    // Twilio failing once: retried, then kept.
    let sid = t.standin.new_message_sid();
    let url = t.standin.add_media(&account, &sid, "image/png", JPEG, None);
    fail_media(&t, &url, 503, 1);
    inbound_with_media(&t, &account, &sid, &url, "image/png").await;
    let m = last_message(&t, &conv()).await;
    assert!(m["media"][0]["download_url"].is_string(), "{m}");

    // Failing every time: the text is there, the error recorded.
    let sid = t.standin.new_message_sid();
    let url = t.standin.add_media(&account, &sid, "image/png", JPEG, None);
    fail_media(&t, &url, 500, 10);
    inbound_with_media(&t, &account, &sid, &url, "image/png").await;
    let m = last_message(&t, &conv()).await;
    assert_eq!(m["body"], "see attached");
    assert_eq!(m["media"][0]["error"], "provider_refused", "{m}");
    let attempts = t
        .standin
        .requests()
        .into_iter()
        .filter(|r| {
            r.path
                == url
                    .split_once("/2010")
                    .map(|(_, p)| format!("/2010{p}"))
                    .unwrap()
        })
        .count();
    assert_eq!(attempts, 3, "three attempts, then recorded");
}

#[tokio::test]
async fn when_the_number_is_of_an_orgs_own_account_media_should_be_fetched_with_its_credentials() {
    let t = spawn_app().await;
    const ACC: &str = "ACeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
    const TOKEN: &str = "token-of-account-e-0123456789abcdef";
    t.standin.add_subaccount(ACC, TOKEN, &["+15550005555"]);
    let r = t.register_own_account(BUSINESS, ORG, ACC, TOKEN).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let sid = t.standin.new_message_sid();
    let url = t
        .standin
        .add_media(ACC, &sid, "audio/ogg", b"OggS....", None);
    inbound_with_media(&t, ACC, &sid, &url, "audio/ogg").await;
    let m = last_message(&t, &conv()).await;
    let link = m["media"][0]["download_url"].as_str().expect("stored");
    assert_eq!(download(link).await, (200, b"OggS....".to_vec()));
    let fetch = t
        .standin
        .requests()
        .into_iter()
        .find(|r| r.path.contains("/Media/"))
        .unwrap();
    assert_eq!(fetch.user.as_deref(), Some(ACC));
}

#[tokio::test]
async fn when_a_meta_contact_sends_a_document_it_should_be_fetched_by_id_with_the_orgs_token() {
    let t = spawn_app().await;
    const ID: &str = "109000000000099";
    let r = t.register_meta(ID, "EAAG-media-token", ORG).await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    t.meta
        .add_media("778899", "application/pdf", b"%PDF-1.4 invoice", None);
    let wamid = t.meta.new_wamid();
    let delivery = dev::meta_standin::MetaStandIn::delivery(
        ID,
        json!({
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "15551235556"}],
            "messages": [{
                "from": "15551235556", "id": wamid, "timestamp": chrono::Utc::now().timestamp().to_string(),
                "type": "document",
                "document": {"id": "778899", "mime_type": "application/pdf", "filename": "invoice.pdf", "caption": "the invoice"}
            }]
        }),
    );
    assert_eq!(t.meta.send_webhook(&delivery).await.unwrap().0, 200);
    t.drain().await;
    let conv = meta_conv(ORG, "whatsapp:+15551235556");
    let m = last_message(&t, &conv).await;
    assert_eq!(m["body"], "the invoice");
    let link = m["media"][0]["download_url"].as_str().expect("stored");
    assert_eq!(download(link).await, (200, b"%PDF-1.4 invoice".to_vec()));
    assert_eq!(m["media"][0]["filename"], "invoice.pdf");
}

/// A message stored by a processing that stopped before its media (here:
/// a processor without the media bucket), then delivered again by SQS: the
/// redelivery fetches the media it finds unrecorded.
#[tokio::test]
async fn when_a_stored_message_is_redelivered_without_its_media_they_should_be_fetched_then() {
    let t = spawn_app().await;
    t.register_number(BUSINESS, ORG).await;
    let sid = t.standin.new_message_sid();
    let account = t.standin.account_sid().to_string();
    let url = t
        .standin
        .add_media(&account, &sid, "image/jpeg", JPEG, None);
    let mut p = t
        .standin
        .inbound_params(&sid, CONTACT, BUSINESS, "see attached");
    p.retain(|(k, _)| k != "NumMedia");
    p.push(("NumMedia".into(), "1".into()));
    p.push(("MediaUrl0".into(), url));
    p.push(("MediaContentType0".into(), "image/jpeg".into()));
    let envelope = shared::envelope::Envelope::new(
        shared::envelope::Source::Messaging,
        p,
        None,
        None,
        shared::clock::format_ts(chrono::Utc::now()),
    );
    let raw = serde_json::to_string(&envelope).unwrap();
    // The first processing: the text only.
    let without_media = shared::Core::new(t.app.config.core(), raw_clients().await);
    shared::inbox::inbound::process(&without_media, &raw)
        .await
        .unwrap();
    let m = last_message(&t, &conv()).await;
    assert!(m["media"][0].get("download_url").is_none(), "{m}");
    // SQS delivers it again: the stack's processor keeps the media.
    t.sqs
        .send_message()
        .queue_url(&t.queue_url)
        .message_body(&raw)
        .send()
        .await
        .unwrap();
    t.drain().await;
    let m = last_message(&t, &conv()).await;
    let link = m["media"][0]["download_url"].as_str().expect("kept now");
    assert_eq!(download(link).await, (200, JPEG.to_vec()));
    assert_eq!(t.messages(&conv(), &agent()).await.len(), 1, "stored once");
    // A third delivery fetches nothing more.
    t.standin.clear_requests();
    t.sqs
        .send_message()
        .queue_url(&t.queue_url)
        .message_body(&raw)
        .send()
        .await
        .unwrap();
    t.drain().await;
    assert!(
        !t.standin
            .requests()
            .iter()
            .any(|r| r.path.contains("/Media/")),
        "already kept: not fetched again"
    );
}
