//! `qcatctl backup` as an operator runs it against a real PostgreSQL: a production target
//! backed up full then incremental, listed, verified, restored into a new database with the
//! counts checked; a wrong confirmation refused; damage found with exit code 4; expiry.

mod common;

use std::process::Output;

use common::{ROOT_PASSWORD, as_root, assert_exit, qcatctl, run_with_stdin as run, succeeded};
use sqlx::Connection;

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&succeeded(out)).expect("one JSON document")
}

fn with_database(url: &str, database: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    parsed.set_path(&format!("/{database}"));
    parsed.to_string()
}

/// A data dir with a master key, the administrator `root` and the PostgreSQL target
/// `orders-db` on `url`.
fn operator(url: &str, environment: &str) -> tempfile::TempDir {
    let dir = common::data_dir_with_admin();
    succeeded(&as_root(
        dir.path(),
        &[
            "target",
            "add",
            "orders-db",
            "--kind",
            "postgres",
            "--url",
            url,
            "--environment",
            environment,
        ],
    ));
    dir
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

    let dir = operator(&source_url, "production");
    let dir = dir.path();

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
    assert_eq!(
        verify["coverage"]["share"], 1.0,
        "a full verify covers the whole repository"
    );
    let rolling = json(&as_root(
        dir,
        &["backup", "verify", "--rolling", "--budget", "1s", "--json"],
    ));
    assert!(rolling["packsVerified"].as_u64().unwrap() >= 1, "{rolling}");
    assert_eq!(rolling["coverage"]["windowDays"], 7);
    let bad_budget = as_root(dir, &["backup", "verify", "--rolling", "--budget", "soon"]);
    assert_exit(&bad_budget, 64);
    assert!(String::from_utf8_lossy(&bad_budget.stderr).contains("--budget"));

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

    // A drill restores the newest point into a scratch database, checks it, drops it.
    let drill = json(&as_root(dir, &["backup", "drill", "--json"]));
    assert_eq!(drill["passed"], true, "{drill}");
    assert_eq!(
        drill["withinRto"], true,
        "a small database restores well within 30 minutes"
    );
    assert_eq!(drill["sources"][0]["scratchDropped"], true);
    let (left,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM pg_database WHERE datname LIKE 'qcat_drill_%'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(left, 0, "no scratch database is left behind");

    // One flipped byte: verify exits 4 and names the chunk and both backups needing it.
    let manifest = json(&as_root(
        dir,
        &["backup", "show", full["id"].as_str().unwrap(), "--json"],
    ));
    assert_eq!(manifest["id"], full["id"]);
    assert_eq!(
        manifest["detail"]["chain"],
        serde_json::json!([full["id"]]),
        "a full's chain is itself"
    );
    assert_eq!(
        manifest["detail"]["dependents"],
        serde_json::json!([incr["id"]]),
        "the incremental builds on the full"
    );
    assert_eq!(
        manifest["detail"]["unverifiedPacks"], 0,
        "the full verify above read every pack the full needs: {manifest}"
    );
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

/// A small deterministic generator, so a failing run can be repeated from its printed seed.
struct Lcg(u64);

impl Lcg {
    fn fraction(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Runs `args` as root and kills it (SIGKILL) after `after`; true when it finished first.
fn killed_after(dir: &std::path::Path, args: &[&str], after: std::time::Duration) -> bool {
    let mut command = qcatctl(dir);
    command
        .env("QCAT_USER", "root")
        .env("QCAT_PASSWORD", ROOT_PASSWORD)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = command.spawn().unwrap();
    let deadline = std::time::Instant::now() + after;
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_and_restores_killed_at_random_points_leave_nothing_half_visible() {
    let source_url = qcat_testkit::test_database_url();
    let mut conn = sqlx::PgConnection::connect(&source_url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE ticks (id bigint PRIMARY KEY, sym text, px numeric, note text);
         INSERT INTO ticks SELECT g, 'S' || (g % 500), g * 0.01, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 400000) g;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let dir = operator(&source_url, "staging");
    let dir = dir.path();
    let started = std::time::Instant::now();
    let first = json(&as_root(
        dir,
        &["backup", "run", "--source", "orders-db", "--json"],
    ));
    let span = started.elapsed();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("seed {seed}, one backup takes {span:?}");
    let mut random = Lcg(seed);
    let mut completed = vec![first["id"].as_str().unwrap().to_owned()];
    for round in 0..10 {
        let kind = if round % 2 == 0 { "incr" } else { "full" };
        // From the first instant (locks, planning) to the last (sync, publish).
        let after = span.mul_f64(0.02 + 0.96 * random.fraction());
        let finished = killed_after(
            dir,
            &["backup", "run", "--type", kind, "--source", "orders-db"],
            after,
        );
        let listed = json(&as_root(dir, &["backup", "list", "--json"]));
        let listed: Vec<String> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["id"].as_str().unwrap().to_owned())
            .collect();
        // A kill can land after the manifest was published but before the process ended
        // (an incremental with little to add is done in a fraction of the full's time):
        // that backup is whole and listed; the verify below reads every listed backup.
        let published = listed.len() == completed.len() + 1;
        if finished || published {
            completed.push(listed[0].clone());
        }
        // Only published backups are listed; a killed one is never half visible.
        let mut expected = completed.clone();
        expected.reverse();
        assert_eq!(
            listed, expected,
            "round {round} (killed after {after:?}, seed {seed})"
        );
    }
    // The repository is consistent: every listed backup verifies, a new backup and a
    // garbage collection succeed, and nothing is left in tmp/.
    let verify = json(&as_root(dir, &["backup", "verify", "--json"]));
    assert_eq!(verify["damaged"], serde_json::json!([]), "seed {seed}");
    succeeded(&as_root(
        dir,
        &["backup", "run", "--type", "incr", "--source", "orders-db"],
    ));
    succeeded(&as_root(dir, &["backup", "expire"]));
    let tmp: Vec<_> = std::fs::read_dir(dir.join("backups").join("tmp"))
        .unwrap()
        .collect();
    assert!(tmp.is_empty(), "garbage collection empties tmp/: {tmp:?}");

    // Restores killed at random points: the target is either untouched or reported as
    // half restored; none is taken for a finished one.
    let newest = completed.last().unwrap().clone();
    let server_db = url::Url::parse(&source_url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let started = std::time::Instant::now();
    let whole = format!(
        "orders-db={}",
        with_database(&source_url, &format!("{server_db}_whole"))
    );
    succeeded(&as_root(
        dir,
        &["backup", "restore", &newest, "--target", &whole],
    ));
    let restore_span = started.elapsed();
    let mut reported = 0;
    for round in 0..10 {
        let target = format!(
            "orders-db={}",
            with_database(&source_url, &format!("{server_db}_k{round}"))
        );
        let after = restore_span.mul_f64(0.02 + 0.96 * random.fraction());
        let finished = killed_after(
            dir,
            &["backup", "restore", &newest, "--target", &target],
            after,
        );
        let plan = json(&as_root(
            dir,
            &[
                "backup",
                "restore",
                &newest,
                "--target",
                &target,
                "--dry-run",
                "--json",
            ],
        ));
        match (finished, plan["action"].as_str().unwrap()) {
            (true, action) => assert_eq!(
                action, "overwrite",
                "a finished restore created its database"
            ),
            (false, "create") => {} // killed before the database was created: untouched
            (false, _) if plan["halfRestored"].is_null() => {
                // Killed after its last step (the mark is cleared only once every table is
                // loaded, indexed and counted), before the process ended: the database must
                // then be whole.
                let url = with_database(&source_url, &format!("{server_db}_k{round}"));
                let mut restored = sqlx::PgConnection::connect(&url).await.unwrap();
                let (rows, indexed): (i64, bool) = sqlx::query_as(
                    "SELECT (SELECT count(*) FROM ticks), \
                     EXISTS (SELECT 1 FROM pg_indexes WHERE tablename = 'ticks')",
                )
                .fetch_one(&mut restored)
                .await
                .unwrap();
                assert_eq!(
                    (rows, indexed),
                    (400_000, true),
                    "round {round}: an unmarked database after a killed restore is a finished one: {plan} (seed {seed})"
                );
            }
            (false, _) => {
                // Created, then killed: the mark says so (pg_restore may even have run on).
                assert!(
                    plan["halfRestored"]
                        .as_str()
                        .is_some_and(|m| m.contains(&newest)),
                    "round {round}: a killed restore's database must be reported half restored: {plan} (seed {seed})"
                );
                reported += 1;
            }
        }
    }
    println!("{reported} of 10 killed restores left a database, each reported half restored");
}

#[test]
fn a_redis_target_is_backed_up_with_postgres_in_one_recovery_point_and_restored_into_another_server()
 {
    let source_url = qcat_testkit::test_database_url();
    let redis = qcat_testkit::RedisServer::start(None);
    let mut con = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    for i in 0..500 {
        redis::cmd("SET")
            .arg(format!("quote:{i}"))
            .arg(i)
            .query::<()>(&mut con)
            .unwrap();
    }
    redis::cmd("HSET")
        .arg("limits")
        .arg("desk-1")
        .arg("5000000")
        .query::<()>(&mut con)
        .unwrap();
    let dir = operator(&source_url, "staging");
    let dir = dir.path();
    succeeded(&as_root(
        dir,
        &[
            "target",
            "add",
            "cache",
            "--kind",
            "redis",
            "--url",
            &redis.url(),
            "--environment",
            "staging",
        ],
    ));
    let point = json(&as_root(
        dir,
        &[
            "backup",
            "run",
            "--source",
            "orders-db",
            "--source",
            "cache",
            "--json",
        ],
    ));
    let kinds: Vec<&str> = point["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["postgres", "redis"],
        "one recovery point holds both"
    );
    assert_eq!(point["sources"][1]["rows"], 501, "every key is counted");

    let other = qcat_testkit::RedisServer::start(None);
    let id = point["id"].as_str().unwrap();
    let target = format!("cache=redis://127.0.0.1:{}/2", other.port());
    let plan = json(&as_root(
        dir,
        &[
            "backup",
            "restore",
            id,
            "--target",
            &target,
            "--dry-run",
            "--json",
        ],
    ));
    assert_eq!(
        plan["action"], "create",
        "an empty db is written, nothing overwritten"
    );
    assert_eq!(plan["database"], "db2");
    let restored = as_root(dir, &["backup", "restore", id, "--target", &target]);
    assert!(succeeded(&restored).contains("match the backup"));
    let mut into = redis::Client::open(format!("redis://127.0.0.1:{}/2", other.port()))
        .unwrap()
        .get_connection()
        .unwrap();
    let size: u64 = redis::cmd("DBSIZE").query(&mut into).unwrap();
    assert_eq!(size, 501);
    let limit: String = redis::cmd("HGET")
        .arg("limits")
        .arg("desk-1")
        .query(&mut into)
        .unwrap();
    assert_eq!(limit, "5000000");
    // Now the db holds keys: restoring again overwrites, so the name must be typed.
    let again = as_root(dir, &["backup", "restore", id, "--target", &target]);
    assert_exit(&again, 77);
    assert!(String::from_utf8_lossy(&again.stderr).contains("--confirm db2"));
}

#[test]
fn the_files_source_takes_the_configured_folders_and_restores_them_into_a_new_folder() {
    let source_url = qcat_testkit::test_database_url();
    let dir = operator(&source_url, "staging");
    let dir = dir.path();
    let folder = dir.join("desk-rules");
    std::fs::create_dir_all(folder.join("limits")).unwrap();
    std::fs::write(folder.join("limits/desk-1.yml"), "max: 5000000\n").unwrap();
    let mut command = qcatctl(dir);
    command
        .env("QCAT_USER", "root")
        .env("QCAT_PASSWORD", ROOT_PASSWORD)
        .env("QCAT_BACKUP__FOLDERS", folder.to_str().unwrap())
        .args(["backup", "run", "--source", "files", "--json"]);
    let point = json(&run(command, ""));
    assert_eq!(point["sources"][0]["kind"], "files");
    let into = dir.join("restored-files");
    let target = format!("files={}", into.display());
    let mut restore = qcatctl(dir);
    restore
        .env("QCAT_USER", "root")
        .env("QCAT_PASSWORD", ROOT_PASSWORD)
        .env("QCAT_BACKUP__FOLDERS", folder.to_str().unwrap())
        .args([
            "backup",
            "restore",
            point["id"].as_str().unwrap(),
            "--target",
            &target,
        ]);
    succeeded(&run(restore, ""));
    assert_eq!(
        std::fs::read_to_string(into.join("0-desk-rules/limits/desk-1.yml")).unwrap(),
        "max: 5000000\n"
    );
    let relative = as_root(
        dir,
        &[
            "backup",
            "restore",
            point["id"].as_str().unwrap(),
            "--target",
            "files=relative/path",
            "--dry-run",
        ],
    );
    assert_exit(&relative, 64);
    assert!(String::from_utf8_lossy(&relative.stderr).contains("absolute path"));
}
