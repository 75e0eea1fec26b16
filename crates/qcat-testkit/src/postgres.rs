//! A throwaway PostgreSQL cluster for tests (see the crate docs).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The environment variable naming an already running server to create test databases on,
/// as an admin URL such as `postgres://postgres@127.0.0.1:5433/postgres`.
pub const SERVER_URL_ENV: &str = "TEST_POSTGRES_URL";

/// A PostgreSQL server tests may create databases on.
#[derive(Debug)]
pub struct PostgresServer {
    host: String,
    port: u16,
    user: String,
    /// The superuser's password, for a cluster that checks passwords.
    password: Option<String>,
    /// Kept so the cluster's folder outlives every test of the process.
    _cluster_dir: Option<PathBuf>,
}

static SERVER: OnceLock<PostgresServer> = OnceLock::new();
static DURABLE_SERVER: OnceLock<PostgresServer> = OnceLock::new();
static PASSWORD_SERVER: OnceLock<PostgresServer> = OnceLock::new();

/// The superuser password of [`PostgresServer::with_passwords`].
pub const PASSWORD_CLUSTER_PASSWORD: &str = "test-superuser-password";
static DATABASE_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A URL to a new, empty database on the shared test server, unique to the caller.
pub fn test_database_url() -> String {
    PostgresServer::shared().create_database()
}

/// A URL to a new database on a private cluster that syncs to disk like a production
/// server (the shared test server runs with `fsync=off` for speed). For benchmarks.
pub fn durable_database_url() -> String {
    DURABLE_SERVER
        .get_or_init(|| PostgresServer::start_private_cluster(true))
        .create_database()
}

impl PostgresServer {
    /// The server for this test process: the one `TEST_POSTGRES_URL` names, or a private
    /// cluster started on first use.
    pub fn shared() -> &'static PostgresServer {
        SERVER.get_or_init(|| match std::env::var(SERVER_URL_ENV) {
            Ok(url) if !url.is_empty() => Self::from_url(&url),
            _ => Self::start_private_cluster(false),
        })
    }

    fn from_url(url: &str) -> Self {
        let parsed = url::Url::parse(url)
            .unwrap_or_else(|err| panic!("{SERVER_URL_ENV} is not a URL ({err}): fix or unset it"));
        Self {
            host: parsed.host_str().unwrap_or("127.0.0.1").to_owned(),
            port: parsed.port().unwrap_or(5432),
            user: match parsed.username() {
                "" => "postgres".to_owned(),
                user => user.to_owned(),
            },
            password: None,
            _cluster_dir: None,
        }
    }

    /// A private cluster that checks passwords (scram-sha-256) instead of trusting every
    /// local connection: for tests of a wrong password. Its superuser's password is
    /// [`PASSWORD_CLUSTER_PASSWORD`].
    pub fn with_passwords() -> &'static PostgresServer {
        PASSWORD_SERVER.get_or_init(|| Self::start_cluster(false, Some(PASSWORD_CLUSTER_PASSWORD)))
    }

    fn start_private_cluster(durable: bool) -> Self {
        Self::start_cluster(durable, None)
    }

    fn start_cluster(durable: bool, password: Option<&str>) -> Self {
        let bin = postgres_bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("qcat-test-pg-")
            .tempdir()
            .expect("the system temp dir is writable")
            .keep();
        let data = dir.join("data");
        let as_root = is_root();
        if as_root {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir));
        }
        let mut initdb = as_postgres(as_root, &bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--no-sync", "-E", "UTF8"]);
        match password {
            None => {
                initdb.arg("--auth=trust");
            }
            Some(password) => {
                let file = dir.join("pwfile");
                std::fs::write(&file, password).expect("the cluster folder is writable");
                if as_root {
                    run(Command::new("chown").args(["postgres:postgres"]).arg(&file));
                }
                initdb
                    .arg("--auth-local=trust")
                    .arg("--auth-host=scram-sha-256")
                    .arg(format!("--pwfile={}", file.display()));
            }
        }
        run(&mut initdb);
        let port = free_port();
        // The password-checking cluster also loads pg_stat_statements (monitoring tests).
        let preload = if password.is_some() {
            " -c shared_preload_libraries=pg_stat_statements"
        } else {
            ""
        };
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync={} -c max_connections=200{preload}",
            dir.display(),
            if durable { "on" } else { "off" }
        );
        run(as_postgres(as_root, &bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(["-w", "-l"])
            .arg(dir.join("server.log"))
            .args(["-o", &options, "start"]));
        spawn_watchdog(as_root, &bin, &dir, &data);
        Self {
            host: "127.0.0.1".into(),
            port,
            user: "postgres".into(),
            password: password.map(str::to_owned),
            _cluster_dir: Some(dir),
        }
    }

    /// An admin URL for this server.
    pub fn admin_url(&self) -> String {
        self.url_for("postgres")
    }

    fn url_for(&self, database: &str) -> String {
        match &self.password {
            None => format!(
                "postgres://{}@{}:{}/{database}",
                self.user, self.host, self.port
            ),
            Some(password) => format!(
                "postgres://{}:{password}@{}:{}/{database}",
                self.user, self.host, self.port
            ),
        }
    }

    /// Creates an empty database with a unique name and returns its URL.
    pub fn create_database(&self) -> String {
        let name = format!(
            "qcat_test_{}_{}",
            std::process::id(),
            DATABASE_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        run(Command::new("psql")
            .arg(self.admin_url())
            .args(["-v", "ON_ERROR_STOP=1", "-q"])
            // Separate -c options: psql runs one -c with several statements as a single
            // transaction, which CREATE DATABASE refuses.
            .args(["-c", &format!("DROP DATABASE IF EXISTS {name}")])
            .args(["-c", &format!("CREATE DATABASE {name}")])
            .env("PGCONNECT_TIMEOUT", "10"));
        self.url_for(&name)
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command that runs `program` as the `postgres` user when we are root.
fn as_postgres(as_root: bool, program: &Path) -> Command {
    if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// A PostgreSQL client or server program (`pgbench`, `pg_dump`…) of the newest installed
/// version (Debian keeps them out of PATH).
pub fn postgres_program(name: &str) -> PathBuf {
    postgres_bin_dir().join(name)
}

/// The newest installed PostgreSQL's binaries (Debian keeps them out of PATH).
fn postgres_bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let from_pg_config = Command::new("pg_config").arg("--bindir").output();
    match from_pg_config {
        Ok(out) if out.status.success() => {
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
        _ => panic!(
            "no PostgreSQL server binaries found: install the `postgresql` package \
             (scripts/test.sh does) or set {SERVER_URL_ENV} to a running server"
        ),
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("can bind a loopback port")
}

/// Stops the cluster and deletes its folder once this test process has exited, however it
/// exits (statics are never dropped, and a panic or kill skips any guard).
fn spawn_watchdog(as_root: bool, bin: &Path, dir: &Path, data: &Path) {
    let stop = format!(
        "{} '{}' -D '{}' -m immediate stop",
        if as_root {
            "runuser -u postgres --"
        } else {
            ""
        },
        bin.join("pg_ctl").display(),
        data.display()
    );
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        dir = dir.display()
    );
    // Deliberately never waited on: the watchdog must outlive this process.
    #[allow(clippy::zombie_processes)]
    let _watchdog = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("can start the cluster watchdog");
}

fn run(command: &mut Command) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
