//! The HTTP API from the command line: `taskorch up JOBS --http ADDR`
//! serves it next to the jobs file's work; `taskorch serve` serves a
//! store no process holds, read-only (runs and their output; everything
//! live answers `read_only`).
//!
//! The read commands (`runs`, `show`, `logs`, `metrics`) keep asking a
//! running `up` over its unix socket (`up.sock`): it needs no token and no
//! port, and works without `--http`.
//!
//! The token: `TASKORCH_HTTP_TOKEN`, or the file `--http-token-file` (or
//! `TASKORCH_HTTP_TOKEN_FILE`) names; without either one is generated and
//! printed on stderr. Mutating routes need it; every route needs it when
//! the address is not loopback. `--http-loopback-writes` lets loopback
//! clients change things without it.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args as ClapArgs;

use crate::server::{Http, HttpConfig, Listener};
use taskorch_actors::Store;

use super::CliError;
use super::store_dir::StoreDir;

/// The HTTP flags `up` and `serve` share.
#[derive(Debug, Clone, ClapArgs)]
pub struct HttpArgs {
    /// A file holding the bearer token (default: `TASKORCH_HTTP_TOKEN`,
    /// else a generated one, printed on stderr).
    #[arg(long, value_name = "FILE", env = "TASKORCH_HTTP_TOKEN_FILE")]
    pub http_token_file: Option<PathBuf>,
    /// Let clients on loopback addresses use the mutating routes (launch,
    /// cancel, rerun, halt, ...) without the token.
    #[arg(long)]
    pub http_loopback_writes: bool,
}

impl HttpArgs {
    fn config(&self) -> Result<HttpConfig, CliError> {
        let mut config = HttpConfig::default();
        if let Ok(token) = std::env::var(crate::server::TOKEN_ENV)
            && !token.trim().is_empty()
        {
            config.token = Some(token.trim().to_string());
        }
        if let Some(path) = &self.http_token_file {
            let token = crate::server::read_token_file(path)
                .map_err(|e| CliError::Usage(format!("--http-token-file: {}", super::why(e))))?;
            config.token = Some(token);
        }
        config.loopback_writes = self.http_loopback_writes;
        Ok(config)
    }
}

/// Serve `http` on `addr`; says where on stderr, with the token when it
/// was generated.
pub(super) async fn start(
    http: Http,
    addr: SocketAddr,
    args: &HttpArgs,
) -> Result<Listener, CliError> {
    let listener = http
        .config(args.config()?)
        .bind(addr)
        .await
        .map_err(|e| CliError::Usage(format!("--http {addr}: {}", super::why(e))))?;
    eprintln!("taskorch: HTTP API on http://{}/", listener.local_addr());
    if listener.token_generated() {
        eprintln!(
            "taskorch: bearer token (Authorization: Bearer ...): {}",
            listener.token().unwrap_or_default()
        );
    }
    Ok(listener)
}

const SERVE_EXAMPLES: &str = "\
Examples:
  taskorch serve                          http://127.0.0.1:8080/ on ./.taskorch/
  taskorch --store /var/lib/jobs serve --addr 127.0.0.1:9000
  curl -s 127.0.0.1:8080/runs?status=failed | jq '.[0].id'";

/// `taskorch serve`.
#[derive(Debug, ClapArgs)]
#[command(after_help = SERVE_EXAMPLES)]
pub struct ServeArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub addr: SocketAddr,
    /// Token options.
    #[command(flatten)]
    pub http: HttpArgs,
}

/// `taskorch serve`: the store's history over HTTP until `shutdown`.
pub(super) async fn serve(
    args: ServeArgs,
    store: Option<PathBuf>,
    shutdown: impl Future<Output = ()>,
) -> Result<i32, CliError> {
    let dir = StoreDir::or_default(store);
    if tokio::net::UnixStream::connect(dir.socket()).await.is_ok() {
        return Err(CliError::Usage(format!(
            "a taskorch up is running on {}: serve its live API with `taskorch up JOBS --http ADDR`",
            dir.dir.display()
        )));
    }
    let path = dir.database();
    if !path.exists() {
        return Err(CliError::NoStore(dir.dir.clone()));
    }
    // Read-only, as it is: as the read commands open it (see `client`).
    let opened = tokio::task::spawn_blocking(move || Store::open_read_only(path))
        .await
        .map_err(|e| CliError::Usage(format!("opening the store failed: {e}")))?;
    let store = match opened {
        Ok(store) => store,
        Err(e) if e.is_store_in_use() => return Err(dir.in_use()),
        Err(e) => return Err(CliError::Runtime(e)),
    };
    let listener = start(Http::stored(store), args.addr, &args.http).await?;
    shutdown.await;
    listener.stop().await;
    Ok(0)
}
