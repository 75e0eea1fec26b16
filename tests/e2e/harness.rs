//! Runs the real `qcat-console` binary in a private Xvfb display behind tauri-driver and
//! WebKitWebDriver, and gives the test a WebDriver client for it.
//!
//! Every fixture gets free ports, its own display and its own data dir; all processes are
//! started in their own process group and killed together when the fixture drops.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::webdriver::{Element, Session};

/// How long any single wait for the UI may take before the test fails with a message.
pub const UI_TIMEOUT: Duration = Duration::from_secs(20);

pub struct App {
    pub session: Session,
    pub data_dir: tempfile::TempDir,
    screenshots: PathBuf,
    scenario: String,
    processes: Vec<Child>,
    _xvfb_stdout: BufReader<std::process::ChildStdout>,
}

/// A process started in its own group, so the group (driver, WebKitWebDriver, the app) can
/// be killed at once.
fn spawn_group(command: &mut Command) -> Child {
    use std::os::unix::process::CommandExt;
    command
        .process_group(0)
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {command:?}: {err}"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("can bind a loopback port")
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + UI_TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} never listened on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `tauri-driver` from PATH or cargo's bin folder; scripts/setup.sh installs it.
fn tauri_driver() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo/bin")));
    for dir in candidates {
        let candidate = dir.join("tauri-driver");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("tauri-driver not found: `cargo install tauri-driver --locked` (scripts/setup.sh does)")
}

/// Starts Xvfb on a free display number and returns it, its display name and its stdout.
/// The stdout pipe must stay open for Xvfb's lifetime: Xvfb dies of SIGPIPE if it writes to
/// a closed pipe, and the app under test then loses its display.
fn start_xvfb() -> (Child, String, BufReader<std::process::ChildStdout>) {
    let mut child = spawn_group(
        Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    stdout
        .read_line(&mut line)
        .expect("Xvfb prints its display number");
    let number = line.trim();
    assert!(
        !number.is_empty(),
        "Xvfb did not start (is the xvfb package installed?)"
    );
    (child, format!(":{number}"), stdout)
}

impl App {
    /// Launches the console with `env` added to a clean environment and waits until the
    /// WebDriver session is open.
    pub async fn launch(scenario: &str, env: &[(&str, &str)]) -> App {
        let data_dir = tempfile::Builder::new()
            .prefix("qcat-e2e-data-")
            .tempdir()
            .unwrap();
        // A server-style 0600 key file: the app never reaches for a desktop keychain here.
        let key_file = data_dir.path().join("master.key");
        qcat_secrets::keys::init_key_file(&key_file).expect("a key file for the app");
        let (xvfb, display, xvfb_stdout) = start_xvfb();
        let port = free_port();
        let native_port = free_port();
        // A private D-Bus session bus (when available) keeps services the webview activates
        // (portals, accessibility) inside the fixture's process group.
        let mut driver = if Path::new("/usr/bin/dbus-run-session").exists() {
            let mut command = Command::new("dbus-run-session");
            command.arg("--").arg(tauri_driver());
            command
        } else {
            Command::new(tauri_driver())
        };
        driver
            .env("NO_AT_BRIDGE", "1")
            .args(["--port", &port.to_string()])
            .args(["--native-port", &native_port.to_string()])
            .env("DISPLAY", &display)
            .env("QCAT_DATA_DIR", data_dir.path())
            .env("QCAT_MASTER_KEY_FILE", &key_file)
            // The webview keeps its own storage under the XDG folders: keep those inside
            // the fixture too, so a test run never touches the user's.
            .env("XDG_DATA_HOME", data_dir.path().join("xdg-data"))
            .env("XDG_CONFIG_HOME", data_dir.path().join("xdg-config"))
            .env("XDG_CACHE_HOME", data_dir.path().join("xdg-cache"))
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            driver.env(key, value);
        }
        let driver = spawn_group(&mut driver);
        // tauri-driver accepts before WebKitWebDriver listens behind it: wait for both.
        wait_for_port(port, "tauri-driver");
        wait_for_port(native_port, "WebKitWebDriver");

        let session = Session::start(
            &format!("http://127.0.0.1:{port}"),
            serde_json::json!({
                "browserName": "wry",
                "tauri:options": { "application": env!("CARGO_BIN_EXE_qcat-console") },
            }),
        )
        .await
        .expect("a WebDriver session on the console opens");
        let screenshots = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
            .join("e2e-screenshots");
        std::fs::create_dir_all(&screenshots).unwrap();
        App {
            session,
            data_dir,
            screenshots,
            scenario: scenario.to_owned(),
            processes: vec![driver, xvfb],
            _xvfb_stdout: xvfb_stdout,
        }
    }

    /// Saves a PNG of the window as `target/e2e-screenshots/<scenario>-<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        // The console draws without GPU compositing, where WebKit takes a snapshot only at
        // the next paint; a still page may not paint for a minute. A few frames of an
        // invisible change make one happen.
        self.session
            .execute(
                "let n = 0; const body = document.body; \
                 const tick = () => { body.style.opacity = n % 2 ? '1' : '0.9999'; \
                 if (++n < 12) requestAnimationFrame(tick); else body.style.opacity = ''; }; \
                 requestAnimationFrame(tick);",
                vec![],
            )
            .await
            .expect("start the repaint frames");
        let png = self.session.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "WebDriver returned a PNG");
        let path = self
            .screenshots
            .join(format!("{}-{name}.png", self.scenario));
        std::fs::write(&path, png).unwrap();
    }

    pub async fn click(&self, test_id: &str) {
        let element = self.element(test_id).await;
        self.session.click(&element).await.expect("click");
    }

    /// The element with `data-testid`, waiting for it to appear.
    pub async fn element(&self, test_id: &str) -> Element {
        self.element_css(&format!("[data-testid='{test_id}']"))
            .await
    }

    /// The first element matching `css`, waiting for it to appear.
    pub async fn element_css(&self, css: &str) -> Element {
        let deadline = Instant::now() + UI_TIMEOUT;
        loop {
            if let Some(element) = self.find(css).await {
                return element;
            }
            if Instant::now() >= deadline {
                let shown = self.shown_problems().await;
                self.screenshot("timeout").await;
                panic!(
                    "no element {css} within {UI_TIMEOUT:?}; the window said: {shown:?} (see {}-timeout.png)",
                    self.scenario
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The texts of the problems the window shows now (`role=alert`, `*-failure`), for a
    /// failing test to say why the window did not do what it waited for.
    async fn shown_problems(&self) -> Vec<String> {
        self.session
            .execute(
                "return [...document.querySelectorAll(\"[role='alert'], [data-testid$='failure']\")] \
                 .map(e => e.textContent.trim()).filter(t => t);",
                vec![],
            )
            .await
            .ok()
            .and_then(|value| serde_json::from_value(value).ok())
            .unwrap_or_default()
    }

    /// Types `text` into the input with `data-testid`.
    pub async fn type_into(&self, test_id: &str, text: &str) {
        let element = self.element(test_id).await;
        self.session.send_keys(&element, text).await.expect("type");
    }

    pub async fn text(&self, test_id: &str) -> String {
        let element = self.element(test_id).await;
        self.session.text(&element).await.expect("text")
    }

    /// The attribute of the element with `data-testid` (waiting for the element); `None`
    /// when it has none, or when the element was replaced or removed between finding it
    /// and reading it (a job's bar ends, a list re-renders): callers poll again.
    pub async fn attribute(&self, test_id: &str, name: &str) -> Option<String> {
        self.element(test_id).await;
        self.attribute_now(test_id, name).await
    }

    /// The attribute of the element with `data-testid` if that element is there now: for
    /// polling something that ends by itself (a job's bar), where waiting for it to come
    /// back would wait for nothing.
    pub async fn attribute_now(&self, test_id: &str, name: &str) -> Option<String> {
        let element = self.find(&format!("[data-testid='{test_id}']")).await?;
        match self.session.attribute(&element, name).await {
            Ok(value) => value,
            Err(err) if err.0.contains("stale element reference") => None,
            Err(err) => panic!("attribute {name} of {test_id}: {err:?}"),
        }
    }

    /// Waits until `test_id`'s text satisfies `accept`, returning it; fails with the last
    /// text seen.
    pub async fn wait_for_text(&self, test_id: &str, accept: impl Fn(&str) -> bool) -> String {
        let css = format!("[data-testid='{test_id}']");
        let deadline = Instant::now() + UI_TIMEOUT;
        loop {
            let text = match self.find(&css).await {
                Some(element) => self.session.text(&element).await.unwrap_or_default(),
                None => String::new(),
            };
            if accept(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{test_id} never showed the expected text; last seen: {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click_css(&self, css: &str) {
        let element = self.element_css(css).await;
        self.session.click(&element).await.expect("click");
    }

    /// Chooses `value` in the `<select>` with `data-testid` (clicking the option is the
    /// W3C way).
    pub async fn select_option(&self, test_id: &str, value: &str) {
        self.click_css(&format!(
            "[data-testid='{test_id}'] option[value='{value}']"
        ))
        .await;
    }

    /// Waits until `test_id`'s attribute `name` is `expected`.
    pub async fn wait_for_attribute(&self, test_id: &str, name: &str, expected: &str) {
        let deadline = Instant::now() + UI_TIMEOUT;
        loop {
            if self.attribute(test_id, name).await.as_deref() == Some(expected) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{test_id} never had {name}={expected}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the first element matching `css` has an attribute `name` that `accept`s.
    pub async fn wait_for_attribute_css(
        &self,
        css: &str,
        name: &str,
        accept: impl Fn(&str) -> bool,
    ) {
        let deadline = Instant::now() + UI_TIMEOUT;
        loop {
            let seen = match self.find(css).await {
                Some(element) => self.session.attribute(&element, name).await.ok().flatten(),
                None => None,
            };
            if seen.as_deref().is_some_and(&accept) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never had an accepted {name}; last seen {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Scrolls the element with `data-testid` to `top` pixels, as a user dragging its
    /// scrollbar would.
    pub async fn scroll_to(&self, test_id: &str, top: u64) {
        self.element(test_id).await;
        self.session
            .execute(
                "const el = document.querySelector(`[data-testid='${arguments[0]}']`); \
                 el.scrollTop = arguments[1]; return el.scrollTop;",
                vec![serde_json::json!(test_id), serde_json::json!(top)],
            )
            .await
            .expect("scroll");
    }

    /// Whether an element with `data-testid` is on the page now (no waiting).
    pub async fn exists(&self, test_id: &str) -> bool {
        self.find(&format!("[data-testid='{test_id}']"))
            .await
            .is_some()
    }

    /// The first element matching `css` now, if any. WebKitWebDriver reports an element
    /// removed while it was being found (a job's bar ending, a list re-rendering) as
    /// "stale": that is "not there (now)", and callers poll again.
    pub async fn find(&self, css: &str) -> Option<Element> {
        match self.session.find(css).await {
            Ok(found) => found,
            Err(err) if err.0.contains("stale element") => None,
            Err(err) => panic!("find {css}: {err:?}"),
        }
    }

    /// Fills the first-administrator form shown on an empty store and waits for the shell.
    pub async fn create_first_admin(&self, username: &str, password: &str) {
        self.element("first-admin-form").await;
        self.type_into("signin-username", username).await;
        self.type_into("signin-display-name", "First Admin").await;
        self.type_into("signin-password", password).await;
        self.type_into("signin-confirm", password).await;
        self.click("signin-submit").await;
        self.element("current-user").await;
    }

    /// Signs in through the sign-in form and waits for the shell.
    pub async fn sign_in(&self, username: &str, password: &str) {
        self.element("signin-form").await;
        self.type_into("signin-username", username).await;
        self.type_into("signin-password", password).await;
        self.click("signin-submit").await;
        self.wait_for_text("current-user", |t| {
            t.contains(username) || t.contains("First Admin")
        })
        .await;
    }

    pub async fn sign_out(&self) {
        self.click("sign-out").await;
        self.element("signin-form").await;
    }

    /// Ends the session and stops every process of the fixture.
    pub async fn close(mut self) {
        let _ = self.session.close().await;
        self.stop_processes();
    }

    fn stop_processes(&mut self) {
        for child in &mut self.processes {
            let _ = Command::new("kill")
                // `--` so the negative number is read as a process group, not an option.
                .args(["-s", "KILL", "--", &format!("-{}", child.id())])
                .stderr(Stdio::null())
                .status();
            let _ = child.wait();
        }
        self.processes.clear();
    }
}

impl Drop for App {
    fn drop(&mut self) {
        // Also runs when an assertion fails mid-test, so no window or driver outlives it.
        self.stop_processes();
    }
}
