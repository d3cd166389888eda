//! The dashboard in a real browser: headless Chromium driven through
//! WebDriver (`chromedriver`, spawned here on a free port, killed at the
//! end) against a real server on an ephemeral loopback port.
//!
//! Without `chromium`/`chromedriver` on the machine the tests print why
//! and pass, except under `CI=true`, where they fail: CI installs both
//! (`.ci/run`, `scripts/dev-services.sh`). With `TASKORCH_SCREENSHOT=1`
//! the first scenario also rewrites `docs/dashboard.png`.
//!
//! The browsers run one at a time (a lock): a few Chromium processes at
//! once on a small CI machine make every wait in here slower, not the
//! tests any more thorough.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use taskorch::{RunId, RunStatus, ScheduleSpec, Task, Trigger};

use crate::common::start_runtime;
use crate::http::{Served, TOKEN, config, serve_orch};

/// What each wait for the page allows: generous, a cold Chromium on a
/// busy machine is slow; a passing test waits only as long as it must.
const PAGE_WAIT: Duration = Duration::from_secs(20);

/// One browser at a time (see the module docs).
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `name` on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| on_path(name))
}

/// A free loopback port (bound, read, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// `chromedriver` and the Chromium it starts, in a process group of their
/// own: dropping this kills the whole group, so no browser outlives the
/// test, even a failing one.
struct Driver {
    child: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group id is the driver's pid (process_group(0)). A direct
        // killpg, checked: group 0 would be our own, and a `kill` command
        // given a negative id may take it for an option ("-1": every
        // process we may signal).
        if let Ok(pgid) = i32::try_from(self.child.id())
            && pgid > 1
        {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser session on a fresh profile.
struct Browser {
    client: Client,
    _driver: Driver,
}

impl Browser {
    /// Start chromedriver and a headless Chromium; `None` (after saying
    /// why) when they are not installed and this is not CI.
    async fn start() -> Option<Browser> {
        let (Some(chromium), Some(chromedriver)) = (chromium(), on_path("chromedriver")) else {
            let why = "chromium and chromedriver are not installed \
                       (apt-get install -y chromium chromium-driver, or scripts/dev-services.sh)";
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "browser tests cannot be skipped in CI: {why}"
            );
            eprintln!("skipping the browser test: {why}");
            return None;
        };
        let profile = tempfile::tempdir().expect("a profile directory");
        let port = free_port();
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("chromedriver starts")
        };
        let driver = Driver {
            child,
            _profile: profile,
        };
        let args = [
            "--headless".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-quic".to_string(),
            "--no-first-run".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--window-size=1280,860".to_string(),
            format!("--user-data-dir={}", driver._profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": chromium, "args": args }),
        );
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver takes a moment to listen: retry the session.
        let deadline = tokio::time::Instant::now() + PAGE_WAIT;
        let client = loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if tokio::time::Instant::now() > deadline => {
                    panic!("no WebDriver session from {}: {e}", chromedriver.display())
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        Some(Browser {
            client,
            _driver: driver,
        })
    }

    async fn close(self) {
        // Ends the session, which quits Chromium; the Driver's drop kills
        // whatever is left.
        let _ = self.client.close().await;
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("the page loads");
    }

    /// The text of the first element matching `css`, if there is one.
    async fn text(&self, css: &str) -> Option<String> {
        let element = self.client.find(Locator::Css(css)).await.ok()?;
        element.text().await.ok()
    }

    async fn attr(&self, css: &str, name: &str) -> Option<String> {
        let element = self.client.find(Locator::Css(css)).await.ok()?;
        element.attr(name).await.ok().flatten()
    }

    /// Wait until the text of `css` satisfies `ok`; that text. The page
    /// re-renders while we look (elements go stale): every error is just
    /// "not yet".
    async fn wait_text(&self, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + PAGE_WAIT;
        let mut last = None;
        loop {
            if let Some(text) = self.text(css).await {
                if ok(&text) {
                    return text;
                }
                last = Some(text);
            }
            if tokio::time::Instant::now() > deadline {
                panic!("waited {PAGE_WAIT:?} for {what} ({css}); last seen: {last:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_attr(&self, css: &str, name: &str, what: &str, ok: impl Fn(&str) -> bool) {
        let deadline = tokio::time::Instant::now() + PAGE_WAIT;
        let mut last = None;
        loop {
            if let Some(value) = self.attr(css, name).await {
                if ok(&value) {
                    return;
                }
                last = Some(value);
            }
            if tokio::time::Instant::now() > deadline {
                panic!("waited {PAGE_WAIT:?} for {what} ({css} [{name}]); last seen: {last:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until `css` is there without a `hidden` attribute.
    async fn wait_shown(&self, css: &str, what: &str) {
        let deadline = tokio::time::Instant::now() + PAGE_WAIT;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(None) = element.attr("hidden").await
            {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("waited {PAGE_WAIT:?} for {what} ({css}) to show");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn click(&self, css: &str) {
        let deadline = tokio::time::Instant::now() + PAGE_WAIT;
        loop {
            match self.client.find(Locator::Css(css)).await {
                Ok(element) if element.click().await.is_ok() => return,
                _ if tokio::time::Instant::now() > deadline => panic!("nothing to click at {css}"),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Enter the bearer token through the page's token form.
    async fn enter_token(&self) {
        if self.attr("#token-form", "hidden").await.is_some() {
            self.click("#token-button").await;
        }
        let input = self
            .client
            .find(Locator::Css("#token-input"))
            .await
            .expect("the token field");
        input.send_keys(TOKEN).await.expect("typed");
        self.click("#token-form button[type=submit]").await;
        self.wait_text("#token-button", "the token taken", |t| t.contains('✓'))
            .await;
    }
}

/// A server for the browser, with the test token.
async fn serve() -> Served {
    serve_orch(start_runtime().await, config()).await
}

/// A file whose existence releases a run waiting for it.
struct Gate {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Gate {
    fn new() -> Gate {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("open");
        Gate { _dir: dir, path }
    }

    /// Shell that waits for the gate.
    fn wait(&self) -> String {
        format!(
            "while [ ! -e '{}' ]; do sleep 0.05; done",
            self.path.display()
        )
    }

    fn open(&self) {
        std::fs::write(&self.path, b"").expect("the gate opens");
    }
}

fn row(id: RunId) -> String {
    format!("#runs tr[data-run-id='{id}']")
}

/// Where the screenshot in the docs comes from.
fn screenshot_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/dashboard.png")
}

#[tokio::test]
async fn a_launched_run_appears_and_finishes_live_in_the_runs_table() {
    let _one = ONE_BROWSER.lock().await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    let s = serve().await;
    browser.goto(&format!("{}/", s.base)).await;
    browser
        .wait_text("#live", "the event stream connected", |t| t == "live")
        .await;
    browser
        .wait_text("#runs-empty", "the empty table", |t| t.contains("No runs"))
        .await;

    // Launched after the page loaded: only the event stream can show it.
    let gate = Gate::new();
    let id = s
        .orch()
        .launch(Task::shell(format!("{}; echo done", gate.wait())).name("nightly-report"))
        .await
        .unwrap();
    let status = format!("{} .status", row(id));
    browser
        .wait_text(&status, "the run shown running", |t| t == "running")
        .await;
    assert_eq!(
        browser.text(&format!("{} .name", row(id))).await.as_deref(),
        Some("nightly-report")
    );
    gate.open();
    browser
        .wait_text(&status, "the run shown succeeded", |t| t == "succeeded")
        .await;
    assert_eq!(s.orch().status(id), Some(RunStatus::Succeeded));

    // The status filter narrows the table without a reload.
    let failed = s
        .orch()
        .launch(Task::shell("echo oops >&2; exit 3").name("import-orders"))
        .await
        .unwrap();
    browser
        .wait_text(
            &format!("{} .status", row(failed)),
            "the failure shown",
            |t| t == "failed",
        )
        .await;
    let select = browser
        .client
        .find(Locator::Css("#filter-status"))
        .await
        .unwrap();
    select.select_by_value("failed").await.unwrap();
    browser
        .wait_attr(
            "#runs tbody tr",
            "data-run-id",
            "only the failed run",
            |v| v == failed.to_string(),
        )
        .await;
    select.select_by_value("").await.unwrap();

    // At a phone's width the page itself does not scroll sideways (the
    // table does, inside its box).
    browser.client.set_window_size(390, 844).await.unwrap();
    let fits = browser
        .client
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fits, json!(true), "the page fits a phone's width");
    browser.client.set_window_size(1280, 860).await.unwrap();

    if std::env::var("TASKORCH_SCREENSHOT").as_deref() == Ok("1") {
        let slow = s
            .orch()
            .launch(
                Task::shell("sleep 30")
                    .name("reindex-search")
                    .label("team", "search"),
            )
            .await
            .unwrap();
        browser
            .wait_text(&format!("{} .status", row(slow)), "a running run", |t| {
                t == "running"
            })
            .await;
        let png = browser.client.screenshot().await.expect("a screenshot");
        std::fs::write(screenshot_path(), png).expect("docs/dashboard.png written");
        s.orch().cancel(slow).await.unwrap();
    }
    browser.close().await;
}

#[tokio::test]
async fn a_runs_page_streams_its_output_live_and_shows_the_outcome() {
    let _one = ONE_BROWSER.lock().await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    let s = serve().await;
    let gate = Gate::new();
    let id = s
        .orch()
        .launch(
            Task::shell(format!(
                "echo first line; echo to stderr >&2; {}; echo second line",
                gate.wait()
            ))
            .name("stream-me"),
        )
        .await
        .unwrap();
    browser.goto(&format!("{}/", s.base)).await;
    // Open it from the table, as a user would.
    browser.click(&format!("{} a", row(id))).await;
    browser
        .wait_text("#output", "the first lines", |t| {
            t.contains("first line") && t.contains("to stderr")
        })
        .await;
    assert_eq!(
        browser.text("#run-status").await.as_deref(),
        Some("running")
    );
    assert_eq!(
        browser.text("#output .stderr").await.as_deref(),
        Some("to stderr"),
        "stderr lines are marked"
    );
    gate.open();
    let output = browser
        .wait_text("#output", "the rest and the end", |t| {
            t.contains("succeeded")
        })
        .await;
    assert!(output.contains("second line"), "{output}");
    browser
        .wait_text("#run-status", "the outcome", |t| t == "succeeded")
        .await;
    browser.close().await;
}

#[tokio::test]
async fn cancel_on_a_long_run_asks_for_the_token_then_ends_it_cancelled() {
    let _one = ONE_BROWSER.lock().await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    let s = serve().await;
    let id = s
        .orch()
        .launch(Task::shell("echo started; sleep 60").name("long-job"))
        .await
        .unwrap();
    browser.goto(&format!("{}/#/runs/{id}", s.base)).await;
    browser
        .wait_text("#output", "the run's output", |t| t.contains("started"))
        .await;

    // Without the token the server refuses: the page asks for it.
    browser.click("#run-cancel").await;
    browser
        .wait_shown("#token-form", "the token form, after a 401")
        .await;
    assert_eq!(s.orch().status(id), Some(RunStatus::Running));
    browser.enter_token().await;
    browser.click("#run-cancel").await;
    browser
        .wait_text("#run-status", "the run cancelled", |t| t == "cancelled")
        .await;
    assert_eq!(s.orch().status(id), Some(RunStatus::Cancelled));
    browser
        .wait_text("#output", "the end of the stream", |t| {
            t.contains("cancelled")
        })
        .await;
    browser.close().await;
}

#[tokio::test]
async fn disabling_a_schedule_from_its_page_disables_it_in_the_runtime() {
    let _one = ONE_BROWSER.lock().await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    let s = serve().await;
    let schedule = s
        .orch()
        .schedule(ScheduleSpec::new(
            "hourly-sync",
            Trigger::every(Duration::from_secs(3600)),
            Task::shell("true"),
        ))
        .await
        .unwrap();
    assert!(schedule.info().enabled);
    // The token by link: taken from the fragment and dropped from it.
    browser.goto(&format!("{}/#token={TOKEN}", s.base)).await;
    browser
        .wait_text("#token-button", "the token from the link", |t| {
            t.contains('✓')
        })
        .await;
    browser.click("nav a[data-view=schedules]").await;
    let row = "#schedules tr[data-schedule='hourly-sync']";
    browser
        .wait_text(&format!("{row} .enabled"), "the schedule listed", |t| {
            t == "yes"
        })
        .await;
    browser.click(&format!("{row} button.toggle")).await;
    browser
        .wait_text(&format!("{row} .enabled"), "the schedule disabled", |t| {
            t == "no"
        })
        .await;
    assert!(!schedule.info().enabled, "disabled in the runtime");
    let url = browser.client.current_url().await.unwrap();
    assert!(
        !url.as_str().contains(TOKEN),
        "the token left the address bar: {url}"
    );
    browser.close().await;
}

// ---- the page over plain HTTP (no browser needed) ----

#[tokio::test]
async fn the_page_and_its_assets_carry_their_types_and_a_csp_and_need_no_token() {
    // Reads need the token too, as on a non-loopback bind.
    let mut guarded = config();
    guarded.token_for_reads = true;
    let s = serve_orch(start_runtime().await, guarded).await;
    let mut policies = Vec::new();
    for (path, kind) in [
        ("/", "text/html; charset=utf-8"),
        ("/dashboard/dashboard.js", "text/javascript; charset=utf-8"),
        ("/dashboard/dashboard.css", "text/css; charset=utf-8"),
    ] {
        let response = s.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert_eq!(headers["content-type"], kind, "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        policies.push(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    let csp = &policies[0];
    assert!(policies.iter().all(|p| p == csp), "{policies:?}");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    let page = s.get("/").await.text().await.unwrap();
    assert!(page.contains("src=\"/dashboard/dashboard.js\""), "{page}");
    // The data behind it still needs the token.
    assert_eq!(s.get("/runs").await.status(), 401);
}

#[tokio::test]
async fn nested_under_a_prefix_the_page_points_at_its_own_assets() {
    let rt = start_runtime().await;
    let app = axum::Router::new().nest("/taskorch", rt.orch.http_router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    let page = client
        .get(format!("http://{addr}/taskorch"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("src=\"/taskorch/dashboard/dashboard.js\""),
        "{page}"
    );
    let script = client
        .get(format!("http://{addr}/taskorch/dashboard/dashboard.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.text().await.unwrap().contains("openStream"));
    server.abort();
}

#[tokio::test]
async fn a_graph_is_drawn_with_its_task_states_changing_live() {
    use taskorch::graph::{GraphTask, TaskGraph};
    let _one = ONE_BROWSER.lock().await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    let s = serve().await;
    let gate = Gate::new();
    let mut g = TaskGraph::new();
    let build = g.add(GraphTask::new("build", Task::shell("true")));
    let test = g.add(GraphTask::new("test", Task::shell(gate.wait())).after(build));
    let lint = g.add(GraphTask::new("lint", Task::shell("true")).after(build));
    // Deploy waits too: a finished graph leaves the API, so the live
    // change is watched while the graph still runs.
    let last = Gate::new();
    let deploy = g.add(GraphTask::new("deploy", Task::shell(last.wait())).depends_on([test, lint]));
    let run = s.orch().graphs().start(g).await.unwrap();
    let id = run.info().id;

    browser.goto(&format!("{}/#/graphs", s.base)).await;
    browser
        .click(&format!("#graphs tr[data-graph='{id}'] a"))
        .await;
    let node = |task: &str| format!("#dag g.node[data-task='{task}']");
    browser
        .wait_attr(&node("test"), "data-status", "test running", |v| {
            v == "running"
        })
        .await;
    assert_eq!(
        browser.attr(&node("build"), "data-status").await.as_deref(),
        Some("succeeded")
    );
    assert_eq!(
        browser
            .attr(&node("deploy"), "data-status")
            .await
            .as_deref(),
        Some("pending")
    );
    let edges = browser
        .client
        .find_all(Locator::Css("#dag path.edge"))
        .await
        .unwrap();
    assert_eq!(
        edges.len(),
        4,
        "build->test, build->lint, test->deploy, lint->deploy"
    );
    gate.open();
    browser
        .wait_attr(
            &node("deploy"),
            "data-status",
            "deploy started, live",
            |v| v == "running",
        )
        .await;
    assert_eq!(
        browser.attr(&node("test"), "data-status").await.as_deref(),
        Some("succeeded")
    );
    last.open();
    assert!(
        crate::common::wait_until(PAGE_WAIT, || {
            run.status(deploy) == Some(taskorch::graph::TaskStatus::Succeeded)
        })
        .await
    );
    browser.close().await;
}
