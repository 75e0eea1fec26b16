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
