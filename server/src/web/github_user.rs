//! The few GitHub calls the dashboard makes on behalf of a person, with their OAuth
//! token: exchange the OAuth code, read the user, check team membership and repository
//! permission. Plain REST over one shared HTTP client.

use serde::Deserialize;

/// Why a call to GitHub failed.
#[derive(Debug, thiserror::Error)]
pub enum GithubUserError {
    #[error("GitHub could not be reached: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("GitHub refused: {0}")]
    Refused(String),
}

type Result<T> = std::result::Result<T, GithubUserError>;

/// A person as `GET /user` describes them.
#[derive(Clone, Debug, Deserialize)]
pub struct GithubUser {
    pub id: i64,
    pub login: String,
    pub name: Option<String>,
    pub avatar_url: Option<String>,
}

#[derive(Clone, Debug)]
pub struct GithubUserClient {
    http: reqwest::Client,
    api_url: String,
    web_url: String,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl GithubUserClient {
    pub fn new(api_url: &str, web_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .user_agent("catalyst-preview")
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            http,
            api_url: api_url.trim_end_matches('/').to_owned(),
            web_url: web_url.trim_end_matches('/').to_owned(),
        }
    }

    /// Where the browser goes to sign in.
    pub fn authorize_url(&self, client_id: &str, redirect_uri: &str, state: &str) -> String {
        format!(
            "{}/login/oauth/authorize?client_id={}&redirect_uri={}&state={}&scope=read:org",
            self.web_url,
            enc(client_id),
            enc(redirect_uri),
            enc(state)
        )
    }

    /// Exchanges the code from the callback for the person's access token.
    pub async fn exchange_code(
        &self,
        client_id: &str,
        client_secret: &str,
        code: &str,
        redirect_uri: &str,
    ) -> Result<String> {
        let answer: TokenAnswer = self
            .http
            .post(format!("{}/login/oauth/access_token", self.web_url))
            .header("accept", "application/json")
            .form(&[
                ("client_id", client_id),
                ("client_secret", client_secret),
                ("code", code),
                ("redirect_uri", redirect_uri),
            ])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        match answer.access_token {
            Some(t) if !t.is_empty() => Ok(t),
            _ => Err(GithubUserError::Refused(
                answer
                    .error_description
                    .or(answer.error)
                    .unwrap_or_else(|| "no access token in the answer".into()),
            )),
        }
    }

    fn get(&self, token: &str, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.api_url))
            .bearer_auth(token)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
    }

    pub async fn user(&self, token: &str) -> Result<GithubUser> {
        Ok(self
            .get(token, "/user")
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// Whether `login` is an active member of `org/team`.
    pub async fn in_team(&self, token: &str, org: &str, team: &str, login: &str) -> Result<bool> {
        let resp = self
            .get(
                token,
                &format!(
                    "/orgs/{}/teams/{}/memberships/{}",
                    enc(org),
                    enc(team),
                    enc(login)
                ),
            )
            .send()
            .await?;
        if !resp.status().is_success() {
            return Ok(false);
        }
        let v: serde_json::Value = resp.json().await?;
        Ok(v["state"] == "active")
    }

    /// Whether `login` can push to `owner/name` (write, maintain or admin).
    pub async fn can_push(&self, token: &str, repository: &str, login: &str) -> Result<bool> {
        let resp = self
            .get(
                token,
                &format!(
                    "/repos/{repository}/collaborators/{}/permission",
                    enc(login)
                ),
            )
            .send()
            .await?;
        if !resp.status().is_success() {
            // 403/404: the person cannot even see the collaborators, so cannot push.
            return Ok(false);
        }
        let v: serde_json::Value = resp.json().await?;
        Ok(matches!(
            v["permission"].as_str(),
            Some("admin" | "write" | "maintain")
        ))
    }
}

/// Percent-encodes a query or path value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether `login` is listed as an operator by name (teams need a GitHub call).
pub fn listed_operator(operators: &[String], login: &str) -> bool {
    operators
        .iter()
        .any(|o| !o.contains('/') && o.eq_ignore_ascii_case(login))
}

/// The `org/team` entries of the operator list.
pub fn operator_teams(operators: &[String]) -> Vec<(String, String)> {
    operators
        .iter()
        .filter_map(|o| o.split_once('/'))
        .map(|(org, team)| (org.to_owned(), team.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_by_login_and_team() {
        let ops = vec!["Octocat".to_owned(), "acme/platform".to_owned()];
        assert!(listed_operator(&ops, "octocat"));
        assert!(!listed_operator(&ops, "mallory"));
        assert!(!listed_operator(&ops, "acme/platform"));
        assert_eq!(
            operator_teams(&ops),
            vec![("acme".to_owned(), "platform".to_owned())]
        );
        assert_eq!(enc("a b/c"), "a%20b%2Fc");
    }
}
