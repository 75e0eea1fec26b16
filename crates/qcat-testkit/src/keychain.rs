//! A private OS keychain for tests: a D-Bus session bus and an unlocked gnome-keyring
//! (the Secret Service) in a temp dir, stopped when dropped. Processes under test get
//! `DBUS_SESSION_BUS_ADDRESS` from [`SecretService::bus_address`] and never see the user's.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SecretService {
    bus_address: String,
    dir: tempfile::TempDir,
    bus: Child,
    keyring: Child,
    /// The bus prints its address on stdout; the pipe stays open for its lifetime.
    _bus_stdout: BufReader<ChildStdout>,
}

impl SecretService {
    /// Starts the bus and an unlocked keyring; panics with the missing package's name if
    /// the tools are absent (scripts/setup.sh installs `dbus` and `gnome-keyring`).
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("qcat-test-keychain-")
            .tempdir()
            .expect("the system temp dir is writable");
        let runtime = dir.path().join("run");
        std::fs::create_dir_all(&runtime).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon runs (install the `dbus` package)");
        let mut bus_stdout = BufReader::new(bus.stdout.take().expect("stdout is piped"));
        let mut bus_address = String::new();
        bus_stdout.read_line(&mut bus_address).unwrap();
        let bus_address = bus_address.trim().to_owned();
        assert!(!bus_address.is_empty(), "dbus-daemon printed no address");

        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &bus_address)
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("HOME", dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon runs (install the `gnome-keyring` package)");
        // The keyring's password arrives on stdin; closing it unlocks the login keyring.
        let mut stdin = keyring.stdin.take().expect("stdin is piped");
        stdin.write_all(b"qcat-test").unwrap();
        drop(stdin);

        let service = Self {
            bus_address,
            dir,
            bus,
            keyring,
            _bus_stdout: bus_stdout,
        };
        service.wait_until_ready();
        service
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let owned = Command::new("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
                .stdin(Stdio::null())
                .output()
                .map(|out| String::from_utf8_lossy(&out.stdout).contains("boolean true"))
                .unwrap_or(false);
            if owned {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gnome-keyring never took the Secret Service name"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The value for `DBUS_SESSION_BUS_ADDRESS` of processes that should use this keychain.
    pub fn bus_address(&self) -> &str {
        &self.bus_address
    }

    /// Where the keyring files live (to check nothing is stored in plaintext).
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        let _ = self.keyring.kill();
        let _ = self.keyring.wait();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}
