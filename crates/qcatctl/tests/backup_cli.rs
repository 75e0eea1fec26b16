//! `qcatctl backup` as an operator runs it against a real PostgreSQL: a production target
//! backed up full then incremental, listed, verified, restored into a new database with the
//! counts checked; a wrong confirmation refused; damage found with exit code 4; expiry.

mod common;

use std::process::{Command, Output};

use common::{assert_exit, run_with_stdin as run, succeeded};
use sqlx::Connection;

const ROOT_PASSWORD: &str = "root password 1";

fn qcatctl(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_qcatctl"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("QCAT_DATA_DIR", dir)
        .env("QCAT_MASTER_KEY_FILE", dir.join("master.key"));
    command
}

fn as_root(dir: &std::path::Path, args: &[&str]) -> Output {
    let mut command = qcatctl(dir);
    command
        .env("QCAT_USER", "root")
        .env("QCAT_PASSWORD", ROOT_PASSWORD)
        .args(args);
    run(command, "")
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&succeeded(out)).expect("one JSON document")
}

fn with_database(url: &str, database: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    parsed.set_path(&format!("/{database}"));
    parsed.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_backs_up_verifies_restores_and_expires_a_production_database() {
    let source_url = qcat_testkit::test_database_url();
    let mut conn = sqlx::PgConnection::connect(&source_url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE trades (id bigint PRIMARY KEY, px numeric, at timestamptz DEFAULT now());
         INSERT INTO trades SELECT g, g * 1.25 FROM generate_series(1, 30000) g;",
    )
    .execute(&mut conn)
    .await
    .unwrap();

    let dir = qcat_testkit::temp_data_dir();
    let dir = dir.path();
    succeeded(
        &qcatctl(dir)
            .args(["key", "init", "--to-file"])
            .arg(dir.join("master.key"))
            .output()
            .unwrap(),
    );
    let mut add = qcatctl(dir);
    add.args(["user", "add", "--admin", "root"]);
    succeeded(&run(add, &format!("{ROOT_PASSWORD}\n")));
    succeeded(&as_root(
        dir,
        &[
            "target",
            "add",
            "orders-db",
            "--kind",
            "postgres",
            "--url",
            &source_url,
            "--environment",
            "production",
        ],
    ));

    // Nothing named and nothing configured: the error names the fix.
    let none = as_root(dir, &["backup", "run"]);
    assert_exit(&none, 64);
    assert!(String::from_utf8_lossy(&none.stderr).contains("backup.sources"));

    let full = json(&as_root(
        dir,
        &["backup", "run", "--source", "orders-db", "--json"],
    ));
    assert_eq!(full["kind"], "full");
    assert_eq!(
        full["sources"][0]["rows"], 30000,
        "the row count is the table's"
    );
    sqlx::raw_sql("UPDATE trades SET px = px + 1 WHERE id <= 300")
        .execute(&mut conn)
        .await
        .unwrap();
    let incr = json(&as_root(
        dir,
        &[
            "backup",
            "run",
            "--type",
            "incr",
            "--source",
            "orders-db",
            "--json",
        ],
    ));
    assert_eq!(incr["kind"], "incr");
    assert_eq!(incr["parent"], full["id"]);
    assert!(
        incr["storedBytes"].as_u64().unwrap() < full["storedBytes"].as_u64().unwrap() / 2,
        "an incremental after a 1 % update stores far less than the full: {incr} vs {full}"
    );
    let list = json(&as_root(dir, &["backup", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["id"], incr["id"], "newest first");
    let verify = json(&as_root(dir, &["backup", "verify", "--json"]));
    assert_eq!(verify["damaged"], serde_json::json!([]));

    // A production target needs its database name typed; a wrong one is refused.
    let copy = with_database(
        &source_url,
        &format!(
            "{}_copy",
            url::Url::parse(&source_url)
                .unwrap()
                .path()
                .trim_start_matches('/')
        ),
    );
    let target = format!("orders-db={copy}");
    let plan = json(&as_root(
        dir,
        &[
            "backup",
            "restore",
            incr["id"].as_str().unwrap(),
            "--target",
            &target,
            "--dry-run",
            "--json",
        ],
    ));
    assert_eq!(plan["action"], "create");
    assert_eq!(
        plan["environment"], "production",
        "a URL on a production target's server is production"
    );
    let database = plan["database"].as_str().unwrap().to_owned();
    let wrong = as_root(
        dir,
        &[
            "backup",
            "restore",
            incr["id"].as_str().unwrap(),
            "--target",
            &target,
            "--confirm",
            "orders",
        ],
    );
    assert_exit(&wrong, 77);
    assert!(String::from_utf8_lossy(&wrong.stderr).contains(&format!("--confirm {database}")));
    let restored = as_root(
        dir,
        &[
            "backup",
            "restore",
            incr["id"].as_str().unwrap(),
            "--target",
            &target,
            "--confirm",
            &database,
        ],
    );
    assert!(succeeded(&restored).contains("row counts match the backup"));
    let mut copy_conn = sqlx::PgConnection::connect(&copy).await.unwrap();
    let (sum,): (String,) = sqlx::query_as("SELECT sum(px)::text FROM trades")
        .fetch_one(&mut copy_conn)
        .await
        .unwrap();
    let (expected,): (String,) = sqlx::query_as("SELECT sum(px)::text FROM trades")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(sum, expected, "the incremental restores the updated rows");

    // One flipped byte: verify exits 4 and names the chunk and both backups needing it.
    let manifest = json(&as_root(
        dir,
        &["backup", "show", full["id"].as_str().unwrap(), "--json"],
    ));
    assert_eq!(manifest["id"], full["id"]);
    let packs = dir.join("backups").join("packs");
    let shard = std::fs::read_dir(&packs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let pack = std::fs::read_dir(&shard)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[100] ^= 0x10;
    std::fs::write(&pack, bytes).unwrap();
    let damaged = as_root(dir, &["backup", "verify"]);
    assert_exit(&damaged, 4);
    let printed = String::from_utf8_lossy(&damaged.stdout);
    assert!(printed.contains("DAMAGED chunk"), "{printed}");

    // Expiry with keep_full = 1 keeps the only full and its incremental.
    let expire = json(&as_root(dir, &["backup", "expire", "--dry-run", "--json"]));
    assert_eq!(expire["expired"], serde_json::json!([]));

    // Every step is in the audit trail.
    let audit = json(&as_root(
        dir,
        &["audit", "query", "--json", "--limit", "50"],
    ));
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in ["backup.run", "backup.verify", "backup.restore"] {
        assert!(
            actions.contains(&action),
            "{action} is audited: {actions:?}"
        );
    }
}
