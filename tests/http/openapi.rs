//! `/openapi.json`: generated from the handlers; every route of the
//! contract is in it, and every operation in it is served.

use std::collections::BTreeSet;

use serde_json::Value;

use super::*;

/// The routes of the contract (DESIGN.md, issue 24) plus the other
/// resources; the document must list exactly these.
const ROUTES: [(&str, &str); 28] = [
    ("get", "/"),
    ("get", "/openapi.json"),
    ("get", "/runs"),
    ("post", "/runs"),
    ("get", "/runs/{id}"),
    ("post", "/runs/{id}/cancel"),
    ("post", "/runs/{id}/rerun"),
    ("get", "/runs/{id}/output"),
    ("get", "/runs/{id}/output/stream"),
    ("get", "/events"),
    ("get", "/metrics"),
    ("get", "/system"),
    ("post", "/halt"),
    ("post", "/resume"),
    ("get", "/risk-limits"),
    ("get", "/schedules"),
    ("post", "/schedules/{name}/enable"),
    ("post", "/schedules/{name}/disable"),
    ("post", "/schedules/{name}/trigger"),
    ("get", "/pools"),
    ("post", "/pools/{name}/resize"),
    ("get", "/graphs"),
    ("get", "/graphs/{id}"),
    ("get", "/services"),
    ("get", "/services/{name}"),
    ("post", "/services/{name}/restart"),
    ("post", "/services/{name}/stop"),
    ("post", "/services/{name}/start"),
];

#[tokio::test]
async fn the_document_lists_exactly_the_routes_and_each_is_served() {
    let s = serve().await;
    let doc = s.get_json("/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                documented.insert((method.clone(), path.clone()));
            }
        }
    }
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, expected);

    // Each one is routed: whatever it answers, it is not `no_route`.
    for (method, path) in &documented {
        let concrete = path
            .replace("/graphs/{id}", "/graphs/7")
            .replace("{id}", "0197b2c4-8a2e-7c31-9a55-3f1d2e4b6a70")
            .replace("{name}", "none");
        let request = match method.as_str() {
            "get" => s.client.get(s.url(&concrete)),
            _ => s
                .client
                .post(s.url(&concrete))
                .bearer_auth(TOKEN)
                .body("{}"),
        };
        let response = request
            .timeout(std::time::Duration::from_secs(2))
            .send()
            .await
            .expect("answered");
        if response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            == Some("application/problem+json")
        {
            let problem: Value = response.json().await.unwrap();
            assert_ne!(problem["kind"], "no_route", "{method} {path} is not routed");
        }
    }
    // The security scheme the mutating routes name.
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}
