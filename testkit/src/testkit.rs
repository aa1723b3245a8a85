//! `TestKit`: both doubles started together, with a kubeconfig and the app key on disk.

use std::path::{Path, PathBuf};

use crate::github::{
    GitHub, GitHubServer, TEST_APP_PRIVATE_KEY_PEM, TEST_WEBHOOK_SECRET, WebhookSender,
};
use crate::kube::{Cluster, KubeServer};
use crate::recorder::RecordedRequest;

/// A fixed 32-byte AES key (hex) for `CATALYST_ENCRYPTION_KEY` in tests and demos only.
pub const TEST_ENCRYPTION_KEY: &str =
    "746573742d6f6e6c792d6b65792d646f2d6e6f742d7573652d696e2d70726f64";

/// Failures of starting or using the kit.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not start a double or write its files: {0}")]
    Io(#[from] std::io::Error),
    #[error("could not build a Kubernetes client for the double: {0}")]
    Kube(#[from] ::kube::Error),
    #[error("invalid URL {url}: {reason}")]
    Url { url: String, reason: String },
}

/// Where the doubles listen and where their files go.
#[derive(Debug, Clone, Default)]
pub struct TestKitOptions {
    /// 0 lets the OS choose.
    pub kube_port: u16,
    /// 0 lets the OS choose.
    pub github_port: u16,
    /// Directory for the kubeconfig and the app key; a temporary one when `None`.
    pub state_dir: Option<PathBuf>,
}

/// Both doubles, running on loopback. Dropping it stops them and removes temporary files.
pub struct TestKit {
    kube: KubeServer,
    github: GitHubServer,
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl TestKit {
    /// Starts both doubles on OS-assigned loopback ports.
    pub async fn start() -> Result<Self, Error> {
        Self::start_with(TestKitOptions::default()).await
    }

    /// Starts both doubles with explicit ports / state directory.
    pub async fn start_with(opts: TestKitOptions) -> Result<Self, Error> {
        let kube = KubeServer::start(opts.kube_port).await?;
        let github = GitHubServer::start(opts.github_port).await?;
        let (dir, temp) = match opts.state_dir {
            Some(d) => {
                std::fs::create_dir_all(&d)?;
                (d, None)
            }
            None => {
                let t = tempfile::tempdir()?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        crate::kubeconfig::write(&dir.join("kubeconfig"), &kube.url())?;
        std::fs::write(dir.join("github-app-key.pem"), TEST_APP_PRIVATE_KEY_PEM)?;
        Ok(Self {
            kube,
            github,
            dir,
            _temp: temp,
        })
    }

    /// `http://127.0.0.1:PORT` of the Kubernetes double.
    pub fn kube_url(&self) -> String {
        self.kube.url()
    }

    /// A `kube::Client` for the double (default namespace `default`).
    pub fn kube_client(&self) -> Result<::kube::Client, Error> {
        let url = self.kube_url();
        let uri: http::Uri = url.parse().map_err(|e: http::uri::InvalidUri| Error::Url {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let config = ::kube::Config::new(uri);
        Ok(::kube::Client::try_from(config)?)
    }

    /// The kubeconfig file that points at the double.
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// The GitHub App private key file (test-only key).
    pub fn app_key_path(&self) -> PathBuf {
        self.dir.join("github-app-key.pem")
    }

    /// The directory holding the kubeconfig and the key.
    pub fn state_dir(&self) -> &Path {
        &self.dir
    }

    /// `http://127.0.0.1:PORT` of the GitHub double.
    pub fn github_url(&self) -> String {
        self.github.url()
    }

    /// The GitHub double's control handle.
    pub fn github(&self) -> GitHub {
        self.github.handle()
    }

    /// The simulated cluster's control handle.
    pub fn cluster(&self) -> Cluster {
        self.kube.cluster()
    }

    /// Every request the Kubernetes double received.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.kube.state().recorder.all()
    }

    /// Every request the GitHub double received.
    pub fn github_requests(&self) -> Vec<RecordedRequest> {
        self.github.handle().requests()
    }

    /// A webhook sender for `url` with the kit's default secret.
    pub fn webhook_sender(&self, url: &str) -> WebhookSender {
        let mut s = WebhookSender::new(url, TEST_WEBHOOK_SECRET);
        s.installation_target_id = self.github().app_id();
        s
    }

    /// The environment that points Catalyst at the doubles (`KUBECONFIG`, `CATALYST_*`).
    pub fn env(&self) -> Vec<(String, String)> {
        let gh = self.github();
        let (client_id, client_secret) = gh.oauth_client();
        vec![
            (
                "KUBECONFIG".into(),
                self.kubeconfig_path().display().to_string(),
            ),
            ("CATALYST_GITHUB_API_URL".into(), self.github_url()),
            ("CATALYST_GITHUB_APP_ID".into(), gh.app_id().to_string()),
            (
                "CATALYST_GITHUB_APP_PRIVATE_KEY_PATH".into(),
                self.app_key_path().display().to_string(),
            ),
            (
                "CATALYST_GITHUB_WEBHOOK_SECRET".into(),
                TEST_WEBHOOK_SECRET.into(),
            ),
            ("CATALYST_GITHUB_OAUTH_CLIENT_ID".into(), client_id),
            ("CATALYST_GITHUB_OAUTH_CLIENT_SECRET".into(), client_secret),
            // Catalyst refuses a GitHub App without a key to seal its tokens at rest.
            ("CATALYST_ENCRYPTION_KEY".into(), TEST_ENCRYPTION_KEY.into()),
        ]
    }
}
