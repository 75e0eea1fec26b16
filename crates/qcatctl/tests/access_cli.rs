//! `qcatctl user|role|access|audit` as an operator runs them: real processes on one store,
//! passwords from the environment and from standard input, exit codes, and `audit verify`
//! naming an entry changed behind the console's back.

mod common;

use common::{ROOT_PASSWORD, as_root, qcatctl, run_with_stdin as run, succeeded};

const RITA_PASSWORD: &str = "rita password 1";

#[test]
fn an_operator_sets_up_access_and_audit_verify_catches_tampering() {
    let dir = qcat_testkit::temp_data_dir();
    let key = dir.path().join("master.key");
    succeeded(
        &qcatctl(dir.path())
            .args(["key", "init", "--to-file"])
            .arg(&key)
            .output()
            .unwrap(),
    );

    // The first administrator needs no sign-in; the password comes from standard input.
    let mut add = qcatctl(dir.path());
    add.args(["user", "add", "--admin", "root"]);
    succeeded(&run(add, &format!("{ROOT_PASSWORD}\n")));
    // After that, commands need a user.
    let out = run(
        {
            let mut c = qcatctl(dir.path());
            c.args(["role", "list"]);
            c
        },
        "",
    );
    assert_eq!(out.status.code(), Some(77), "unauthenticated exit code");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--user"));

    succeeded(&as_root(
        dir.path(),
        &[
            "role",
            "create",
            "restorer",
            "--inherit",
            "operator",
            "--grant",
            "backup:restore",
        ],
    ));
    // The acting user's password and the new user's password, one line each on stdin.
    let mut add = qcatctl(dir.path());
    add.args([
        "--user", "root", "user", "add", "rita", "--role", "restorer",
    ]);
    succeeded(&run(add, &format!("{ROOT_PASSWORD}\n{RITA_PASSWORD}\n")));

    let yes = succeeded(&as_root(
        dir.path(),
        &["access", "explain", "rita", "backup:restore"],
    ));
    assert!(yes.starts_with("yes") && yes.contains("restorer"), "{yes}");
    let no = succeeded(&as_root(
        dir.path(),
        &["access", "explain", "rita", "audit:view"],
    ));
    assert!(no.starts_with("no"), "{no}");

    // rita cannot widen her own role.
    let mut grant = qcatctl(dir.path());
    grant
        .env("QCAT_USER", "rita")
        .env("QCAT_PASSWORD", RITA_PASSWORD)
        .args(["role", "grant", "restorer", "*"]);
    let out = run(grant, "");
    assert_eq!(out.status.code(), Some(77));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rbac:edit"));
    // A wrong password is refused the same way.
    let mut wrong = qcatctl(dir.path());
    wrong
        .env("QCAT_USER", "rita")
        .env("QCAT_PASSWORD", "not her password")
        .args(["role", "list"]);
    assert_eq!(run(wrong, "").status.code(), Some(77));

    // The trail, filtered and exported.
    let json = succeeded(&as_root(
        dir.path(),
        &["audit", "query", "--user", "rita", "--json"],
    ));
    let entries: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert!(entries.iter().all(|e| e["actor"] == "rita"));
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "access.denied" && e["target"] == "command:edit_role"),
        "rita's refused grant is recorded: {json}"
    );
    let denied = succeeded(&as_root(
        dir.path(),
        &["audit", "query", "--result", "denied", "--since", "1h"],
    ));
    assert!(
        denied.contains("auth.login"),
        "the wrong password: {denied}"
    );
    let csv = succeeded(&as_root(
        dir.path(),
        &["audit", "export", "--format", "csv"],
    ));
    assert!(csv.starts_with("seq,at_ms,actor,action,target"), "{csv}");
    assert!(csv.contains("rbac.role.create"));
    assert!(!csv.contains(ROOT_PASSWORD) && !csv.contains(RITA_PASSWORD));
    assert!(succeeded(&as_root(dir.path(), &["audit", "verify"])).contains("audit chain ok"));

    let created = succeeded(&as_root(
        dir.path(),
        &["audit", "query", "--action", "rbac.role.create", "--json"],
    ));
    let created: Vec<serde_json::Value> = serde_json::from_str(&created).unwrap();
    let seq = created[0]["seq"].as_i64().unwrap();

    // Someone with access to the database file rewrites history.
    let file = dir.path().join("qcat.sqlite3");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = qcat_store::Store::open(
            &qcat_store::StoreTarget::Sqlite(file),
            &qcat_store::StoreOptions::default(),
        )
        .await
        .unwrap();
        sqlx::query("UPDATE audit_log SET actor = 'nobody' WHERE action = 'rbac.role.create'")
            .execute(store.pool())
            .await
            .unwrap();
        store.close().await;
    });
    let out = as_root(dir.path(), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "a broken chain exits 1");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("BROKEN")
            && text.contains(&format!("audit entry {seq}:"))
            && text.contains("changed"),
        "names the entry: {text}"
    );
}
