use super::*;

#[test]
fn web_urls_follow_the_api_url() {
    assert_eq!(
        repository_web_url("https://api.github.com/", "acme/web"),
        "https://github.com/acme/web"
    );
    assert_eq!(
        repository_web_url("https://ghe.example.com/api/v3", "acme/web"),
        "https://ghe.example.com/acme/web"
    );
}
