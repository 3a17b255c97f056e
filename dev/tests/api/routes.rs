//! `template.yaml`, `openapi.yaml` and the local gateway list the same routes.

use dev::template::{Template, workspace_root};
use std::collections::BTreeSet;

fn openapi_routes() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(workspace_root().join("openapi.yaml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().expect("openapi paths") {
        for (method, _) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap().to_uppercase();
            if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                routes.insert((method, path.as_str().unwrap().to_string()));
            }
        }
    }
    routes
}

#[tokio::test]
async fn when_comparing_template_openapi_and_gateway_they_should_list_the_same_routes() {
    let template: BTreeSet<(String, String)> = Template::load_default()
        .unwrap()
        .routes()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect();
    assert!(template.len() >= 10, "{template:?}");
    assert_eq!(template, openapi_routes(), "template.yaml vs openapi.yaml");

    let t = crate::helpers::spawn_app().await;
    let gateway = dev::gateway::Gateway::new(t.deps, &Template::load_default().unwrap().routes())
        .unwrap()
        .routes()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect::<BTreeSet<_>>();
    assert_eq!(template, gateway, "template.yaml vs local gateway");
}

#[test]
fn when_a_template_route_names_an_unknown_binary_the_gateway_should_refuse_it() {
    assert!(dev::gateway::linked("no-such-function").is_none());
    for r in Template::load_default().unwrap().routes() {
        assert!(dev::gateway::linked(&r.binary).is_some(), "{r:?}");
        assert!(
            workspace_root()
                .join("functions")
                .join(&r.binary)
                .join("Cargo.toml")
                .exists(),
            "{r:?} has no crate under functions/"
        );
    }
}

#[tokio::test]
async fn when_a_route_does_not_exist_the_gateway_should_answer_404_json() {
    let t = crate::helpers::spawn_app().await;
    let r = t.get("/nope", &crate::helpers::customer()).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "not_found");
    let r = t
        .call(reqwest::Method::PUT, "/me/unread", None, None, &[])
        .await;
    assert_eq!(r.status, 405);
    let health = t
        .http
        .get(format!("{}/healthz", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
