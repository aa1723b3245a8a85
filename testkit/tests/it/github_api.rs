//! The GitHub double through octocrab: app JWT → installation token, pulls with pagination,
//! comments, deployments and statuses, contents, conditional requests, rate limits, OAuth.

use catalyst_testkit::PrSpec;
use octocrab::Octocrab;
use octocrab::models::{AppId, InstallationId};
use serde_json::{Value, json};

use crate::kit;

fn app_client(kit: &catalyst_testkit::TestKit) -> Octocrab {
    let key = octocrab::jsonwebtoken::EncodingKey::from_rsa_pem(
        kit.github().app_private_key_pem().as_bytes(),
    )
    .unwrap();
    Octocrab::builder()
        .base_uri(kit.github_url())
        .unwrap()
        .app(AppId(kit.github().app_id()), key)
        .build()
        .unwrap()
}

async fn installation(kit: &catalyst_testkit::TestKit) -> (Octocrab, String) {
    let (crab, token) = app_client(kit)
        .installation_and_token(InstallationId(kit.github().installation_id()))
        .await
        .unwrap();
    use octocrab::secrecy::ExposeSecret;
    (crab, token.expose_secret().to_string())
}

#[tokio::test]
async fn installation_token_from_a_signed_jwt() {
    let kit = kit().await;
    let (_crab, token) = installation(&kit).await;
    assert!(token.starts_with("ghs_"), "{token}");
    let post = kit
        .github_requests()
        .into_iter()
        .find(|r| r.path.ends_with("/access_tokens"))
        .unwrap();
    assert_eq!((post.method.as_str(), post.status), ("POST", 201));

    let http = reqwest::Client::new();
    let url = format!(
        "{}/app/installations/{}/access_tokens",
        kit.github_url(),
        kit.github().installation_id()
    );
    let r = http
        .post(&url)
        .header("authorization", "Bearer not.a.jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["message"],
        "A JSON web token could not be decoded"
    );
    // Expired but correctly signed.
    let now = chrono::Utc::now().timestamp();
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(kit.github().app_private_key_pem().as_bytes())
            .unwrap();
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &json!({"iat": now - 700, "exp": now - 100, "iss": kit.github().app_id().to_string()}),
        &key,
    )
    .unwrap();
    let r = http.post(&url).bearer_auth(jwt).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.json::<Value>().await.unwrap()["message"]
            .as_str()
            .unwrap()
            .starts_with("'Expiration time' claim ('exp')")
    );
    // A token that was never issued.
    let r = http
        .get(format!("{}/repos/acme/web/pulls", kit.github_url()))
        .bearer_auth("ghs_forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["message"],
        "Bad credentials"
    );
}

#[tokio::test]
async fn pulls_paginate_with_link_headers() {
    let kit = kit().await;
    let gh = kit.github();
    for n in 1..=5 {
        gh.open_pr("acme/web", PrSpec::new().number(n)).unwrap();
    }
    gh.close("acme/web", 2, false).unwrap();
    let (crab, _) = installation(&kit).await;
    let page = crab
        .pulls("acme", "web")
        .list()
        .state(octocrab::params::State::Open)
        .per_page(2)
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|p| p.number).collect::<Vec<_>>(),
        vec![5, 4]
    );
    assert!(page.next.is_some());
    let all = crab.all_pages(page).await.unwrap();
    assert_eq!(
        all.iter().map(|p| p.number).collect::<Vec<_>>(),
        vec![5, 4, 3, 1]
    );
    let one = crab.pulls("acme", "web").get(3).await.unwrap();
    assert_eq!(one.head.sha, gh.pull("acme/web", 3).unwrap().head_sha);
    let missing = crab.pulls("acme", "web").get(99).await.unwrap_err();
    assert!(
        matches!(missing, octocrab::Error::GitHub { ref source, .. } if source.status_code == 404),
        "{missing:?}"
    );
}

#[tokio::test]
async fn comments_deployments_statuses_and_contents() {
    let kit = kit().await;
    let gh = kit.github();
    gh.open_pr(
        "acme/web",
        PrSpec::new()
            .number(7)
            .head_ref("feature")
            .head_sha("a".repeat(40)),
    )
    .unwrap();
    gh.set_file(
        "acme/web",
        "feature",
        ".catalyst/preview.yaml",
        "chart: ./chart\n",
    );
    let (crab, _) = installation(&kit).await;
    let issues = crab.issues("acme", "web");
    let c = issues
        .create_comment(7, "Preview is building…")
        .await
        .unwrap();
    assert_eq!(c.user.login, gh.bot_login());
    issues
        .update_comment(c.id, "Preview ready: http://pr-7.preview.test")
        .await
        .unwrap();
    assert_eq!(
        gh.comments("acme/web", 7)[0].body,
        "Preview ready: http://pr-7.preview.test"
    );
    let listed = issues.list_comments(7).send().await.unwrap();
    assert_eq!(listed.items.len(), 1);
    issues.delete_comment(c.id).await.unwrap();
    assert!(gh.comments("acme/web", 7).is_empty());

    let d: Value = crab.post("/repos/acme/web/deployments", Some(&json!({"ref": "feature", "environment": "pr-7", "transient_environment": true, "auto_merge": false, "required_contexts": []}))).await.unwrap();
    assert_eq!(d["sha"], "a".repeat(40));
    let id = d["id"].as_u64().unwrap();
    let s: Value = crab
        .post(
            format!("/repos/acme/web/deployments/{id}/statuses"),
            Some(&json!({"state": "success", "environment_url": "http://pr-7.preview.test"})),
        )
        .await
        .unwrap();
    assert_eq!(s["state"], "success");
    assert_eq!(
        gh.deployment_statuses(id)[0].environment_url.as_deref(),
        Some("http://pr-7.preview.test")
    );
    let bad = crab
        .post::<_, Value>(
            format!("/repos/acme/web/deployments/{id}/statuses"),
            Some(&json!({"state": "sideways"})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(bad, octocrab::Error::GitHub { ref source, .. } if source.status_code == 422),
        "{bad:?}"
    );

    let items = crab
        .repos("acme", "web")
        .get_content()
        .path(".catalyst/preview.yaml")
        .r#ref("a".repeat(40))
        .send()
        .await
        .unwrap();
    assert_eq!(
        items.items[0].decoded_content().as_deref(),
        Some("chart: ./chart\n")
    );
    let none = crab
        .repos("acme", "web")
        .get_content()
        .path("missing.yaml")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(none, octocrab::Error::GitHub { ref source, .. } if source.status_code == 404)
    );
}

#[tokio::test]
async fn conditional_requests_and_rate_limits() {
    let kit = kit().await;
    let gh = kit.github();
    gh.open_pr("acme/web", PrSpec::new().number(1)).unwrap();
    let (_, token) = installation(&kit).await;
    let http = reqwest::Client::new();
    let url = format!("{}/repos/acme/web/pulls/1", kit.github_url());
    let first = http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let remaining: u64 = first.headers()["x-ratelimit-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(first.headers()["x-ratelimit-resource"], "core");
    let again = http
        .get(&url)
        .bearer_auth(&token)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(
        again.headers()["x-ratelimit-remaining"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap(),
        remaining,
        "a 304 is free"
    );
    gh.push("acme/web", 1, None).unwrap();
    let changed = http
        .get(&url)
        .bearer_auth(&token)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);

    gh.set_rate_limit(5000, 1);
    assert_eq!(
        http.get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let limited = http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(limited.status(), 403);
    assert_eq!(limited.headers()["x-ratelimit-remaining"], "0");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(
        body["message"],
        format!(
            "API rate limit exceeded for installation ID {}.",
            gh.installation_id()
        )
    );
    assert_eq!(gh.installation_rate_remaining(), 0);

    gh.set_rate_limit(5000, 5000);
    gh.trigger_secondary_rate_limit(1, 429, 7);
    let secondary = http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(secondary.status(), 429);
    assert_eq!(secondary.headers()["retry-after"], "7");
    assert_eq!(
        http.get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn rate_limit_exhaustion_through_octocrab() {
    let kit = kit().await;
    kit.github()
        .open_pr("acme/web", PrSpec::new().number(1))
        .unwrap();
    let (crab, _) = installation(&kit).await;
    kit.github().set_rate_limit(5000, 0);
    let e = crab.pulls("acme", "web").get(1).await.unwrap_err();
    match e {
        octocrab::Error::GitHub { source, .. } => {
            assert_eq!(source.status_code, 403);
            assert!(
                source.message.starts_with("API rate limit exceeded"),
                "{}",
                source.message
            );
        }
        other => panic!("expected a GitHub error, got {other:?}"),
    }
}

#[tokio::test]
async fn oauth_web_flow_and_collaborator_permission() {
    let kit = kit().await;
    let gh = kit.github();
    gh.add_repo("acme/web");
    gh.set_collaborator("acme/web", "mona", "maintain");
    gh.set_oauth_user("mona");
    let (client_id, secret) = gh.oauth_client();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .get(format!("{}/login/oauth/authorize", kit.github_url()))
        .query(&[
            ("client_id", client_id.as_str()),
            ("redirect_uri", "http://127.0.0.1:3000/auth/callback"),
            ("state", "xyz"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        loc.starts_with("http://127.0.0.1:3000/auth/callback?code=") && loc.ends_with("&state=xyz"),
        "{loc}"
    );
    let code = loc
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let tok: Value = http
        .post(format!("{}/login/oauth/access_token", kit.github_url()))
        .header("accept", "application/json")
        .form(&[
            ("client_id", client_id.as_str()),
            ("client_secret", secret.as_str()),
            ("code", code),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tok["access_token"].as_str().unwrap();
    let reused: Value = http
        .post(format!("{}/login/oauth/access_token", kit.github_url()))
        .header("accept", "application/json")
        .form(&[
            ("client_id", client_id.as_str()),
            ("client_secret", secret.as_str()),
            ("code", code),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reused["error"], "bad_verification_code");
    let user = Octocrab::builder()
        .base_uri(kit.github_url())
        .unwrap()
        .user_access_token(token.to_string())
        .build()
        .unwrap();
    let me = user.current().user().await.unwrap();
    assert_eq!(me.login, "mona");
    let perm: Value = user
        .get("/repos/acme/web/collaborators/mona/permission", None::<&()>)
        .await
        .unwrap();
    assert_eq!(
        (perm["permission"].as_str(), perm["role_name"].as_str()),
        (Some("write"), Some("maintain"))
    );
}

#[tokio::test]
async fn github_faults_and_scenario_playback() {
    let kit = kit().await;
    let gh = kit.github();
    gh.add_repo("acme/web");
    let (crab, _) = installation(&kit).await;
    // octocrab retries 5xx three times by itself: four failures surface as an error.
    gh.faults().fail_next(4, 502);
    let e = crab.repos("acme", "web").get().await.unwrap_err();
    assert!(
        matches!(e, octocrab::Error::GitHub { ref source, .. } if source.status_code == 502),
        "{e:?}"
    );
    crab.repos("acme", "web").get().await.unwrap();
    let statuses: Vec<u16> = gh
        .requests()
        .iter()
        .filter(|r| r.path == "/repos/acme/web")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![502, 502, 502, 502, 200]);

    let (url, got) = crate::github_webhooks::receiver().await;
    gh.set_webhook_target(&url, "s");
    let scenario = catalyst_testkit::scenario::Scenario::parse(
        "steps:\n  - at: 0s\n    job: {match: 'pr-*/deploy-*', exit_code: 3, logs: [boom]}\n  - at: 50ms\n    pr: {repo: acme/web, action: open, number: 4}\n  - at: 100ms\n    pr: {repo: acme/web, action: push, number: 4}\n",
    )
    .unwrap();
    scenario.play(kit.cluster(), gh.clone()).await;
    let actions: Vec<Value> = got
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| serde_json::from_slice::<Value>(b).unwrap()["action"].clone())
        .collect();
    assert_eq!(actions, vec![json!("opened"), json!("synchronize")]);
    assert_eq!(
        kit.cluster()
            .state()
            .sim()
            .job("pr-4", "deploy-x")
            .exit_code,
        3
    );
}
