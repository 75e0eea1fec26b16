//! Who and where a local caller is, as the operating system says: the uid (and its name
//! from the user database), the host name and the process id. Never `$USER` or `$HOSTNAME`:
//! a caller sets those to whatever it likes, which would forge "from where" in the audit
//! trail and sidestep per-source sign-in limits.

/// This process, as the OS sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalProcess {
    pub uid: Option<u32>,
    pub user: Option<String>,
    pub host: String,
    pub pid: u32,
}

impl LocalProcess {
    pub fn current() -> Self {
        #[cfg(unix)]
        {
            let uid = rustix::process::getuid().as_raw();
            let host = rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned();
            Self {
                uid: Some(uid),
                user: user_name(uid),
                host: if host.is_empty() {
                    "localhost".into()
                } else {
                    host
                },
                pid: std::process::id(),
            }
        }
        #[cfg(not(unix))]
        {
            Self {
                uid: None,
                user: None,
                host: "localhost".into(),
                pid: std::process::id(),
            }
        }
    }

    /// For the audit trail: `uid=1000(alice)@host pid=42`.
    pub fn label(&self) -> String {
        let who = match (self.uid, &self.user) {
            (Some(uid), Some(user)) => format!("uid={uid}({user})"),
            (Some(uid), None) => format!("uid={uid}"),
            (None, _) => "user=unknown".into(),
        };
        format!(
            "{}@{} pid={}",
            qcat_core::text::escape_controls(&who),
            qcat_core::text::escape_controls(&self.host),
            self.pid
        )
    }

    /// For throttling: `uid=1000@host` (the same for every run of this OS user here).
    pub fn place(&self) -> String {
        match self.uid {
            Some(uid) => format!("uid={uid}@{}", self.host),
            None => format!("user=unknown@{}", self.host),
        }
    }
}

/// Whether a process with this id exists on this host (for jobs of a process that died:
/// on its own host its death is certain at once, elsewhere only when its heartbeat stops).
pub fn process_exists(pid: i64) -> bool {
    #[cfg(unix)]
    {
        let Some(pid) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            return false;
        };
        // EPERM: it exists, owned by someone else.
        !matches!(
            rustix::process::test_kill_process(pid),
            Err(rustix::io::Errno::SRCH)
        )
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// An exclusive advisory lock on a file, held until dropped (or the process dies: the
/// kernel releases it, which is what makes it a safe leader lock on one host).
pub struct FileLock {
    _file: std::fs::File,
}

impl FileLock {
    /// Takes the lock if nobody holds it; None when another process does (or the file
    /// cannot be opened, which is logged).
    pub fn try_exclusive(path: &std::path::Path) -> Option<Self> {
        let file = match qcat_core::private_files::open_append(path) {
            Ok(file) => file,
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "lock file not opened");
                return None;
            }
        };
        #[cfg(unix)]
        {
            use rustix::fs::{FlockOperation, flock};
            flock(&file, FlockOperation::NonBlockingLockExclusive).ok()?;
        }
        Some(Self { _file: file })
    }
}

/// The name of `uid` in the local user database (`/etc/passwd`); `None` if it has none.
#[cfg(unix)]
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let id: u32 = fields.next()?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_owned())
    })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_source_comes_from_the_os() {
        // The uid is the kernel's; qcatctl's tests run it with a forged $USER and check the
        // trail still names the real uid.
        let honest = LocalProcess::current();
        assert_eq!(honest.uid, Some(rustix::process::getuid().as_raw()));
        assert!(
            honest
                .label()
                .contains(&format!("uid={}", honest.uid.unwrap()))
        );
        assert!(
            !honest.place().contains("pid"),
            "the place stays the same across runs"
        );
    }
}
