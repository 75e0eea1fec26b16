//! PostgreSQL through the repository, on a real server: every table, the schema, sequences
//! and a large object come back identical, the stock pg_restore reads the reassembled
//! stream, and a damaged backup is refused before the target is touched.

use std::path::Path;
use std::process::Command;

use qcat_backup::sources::postgres::{self, Placement, PostgresConnection};
use qcat_backup::{BackupType, BackupWriter, Repository};
use qcat_runtime::CancellationToken;
use qcat_runtime::progress::Progress;
use qcat_secrets::MasterKey;
use sqlx::Connection;

const FIXTURE: &str = r#"
CREATE TYPE side AS ENUM ('buy', 'sell');
CREATE SEQUENCE order_no START 1000;
CREATE TABLE instruments (id serial PRIMARY KEY, symbol text UNIQUE NOT NULL, meta jsonb, tick numeric(18,8));
CREATE TABLE orders (
  id bigint PRIMARY KEY DEFAULT nextval('order_no'),
  instrument int REFERENCES instruments(id),
  side side NOT NULL,
  price numeric(20,10),
  qty numeric,
  tags text[],
  placed timestamptz NOT NULL,
  raw bytea,
  note text
);
CREATE TABLE fills (day date NOT NULL, order_id bigint, qty numeric, at timestamptz) PARTITION BY RANGE (day);
CREATE TABLE fills_2026_11 PARTITION OF fills FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
CREATE TABLE fills_2026_12 PARTITION OF fills FOR VALUES FROM ('2026-12-01') TO ('2027-01-01');
CREATE VIEW open_buys AS SELECT id, price FROM orders WHERE side = 'buy';
CREATE FUNCTION notional(p numeric, q numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$ SELECT p * q $$;
INSERT INTO instruments (symbol, meta, tick)
  SELECT 'SYM' || g, jsonb_build_object('board', g % 3, 'name', '股票 ' || g, 'nested', jsonb_build_array(g, null, true)), 0.01 / g
  FROM generate_series(1, 50) g;
INSERT INTO orders (instrument, side, price, qty, tags, placed, raw, note)
  SELECT 1 + g % 50, CASE WHEN g % 2 = 0 THEN 'buy'::side ELSE 'sell'::side END,
         (g * 1.0000000001)::numeric(20,10), g / 7.0, ARRAY['t' || g % 5, NULL, 'q"uote'],
         timestamptz '2026-11-02 09:30:00+08' + g * interval '1 second',
         decode(md5(g::text), 'hex'), CASE WHEN g % 10 = 0 THEN NULL ELSE E'line\nbreak\ttab ' || g END
  FROM generate_series(1, 20000) g;
INSERT INTO fills SELECT date '2026-11-20' + (g % 20), g, g % 100, timestamptz '2026-11-20 10:00+08' + g * interval '1 minute' FROM generate_series(1, 5000) g;
-- Larger than the loader's split threshold (16 MiB), so a restore spreads its rows over
-- every connection; values with backslashes, tabs and newlines, which COPY escapes.
CREATE TABLE ticks (id bigint PRIMARY KEY, at timestamptz, px numeric, memo text);
INSERT INTO ticks SELECT g, timestamptz '2026-11-02 09:30+08' + g * interval '1 ms', g / 3.0,
  repeat('x', 40) || E'\\back\\slash\nnew line\t' || g FROM generate_series(1, 250000) g;
SELECT setval('order_no', 31337);
SELECT lo_from_bytea(424242, convert_to(repeat('large object payload ', 5000), 'UTF8'));
"#;

async fn table_hashes(url: &str) -> Vec<(String, String, i64)> {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut out = Vec::new();
    for (table,) in tables {
        let (hash, rows): (Option<String>, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)), count(*) FROM {table} t"
        )))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        out.push((table, hash.unwrap_or_default(), rows));
    }
    let (sequence,): (i64,) = sqlx::query_as("SELECT last_value FROM order_no")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    out.push(("order_no".into(), sequence.to_string(), 1));
    let (lo,): (String,) = sqlx::query_as("SELECT md5(lo_get(424242))")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    out.push(("large object 424242".into(), lo, 1));
    out
}

fn schema_of(url: &str) -> String {
    let out = Command::new(qcat_testkit::postgres_program("pg_dump"))
        .args(["--schema-only", "--no-owner", "--no-comments", url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // pg_dump 15.14+ fences its output with a random \restrict key: not part of the schema.
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn url_with_database(url: &str, database: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    parsed.set_path(&format!("/{database}"));
    parsed.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_every_kind_of_object_round_trips_and_the_stock_pg_restore_reads_the_stream()
{
    let source_url = qcat_testkit::test_database_url();
    let mut conn = sqlx::PgConnection::connect(&source_url).await.unwrap();
    sqlx::raw_sql(FIXTURE).execute(&mut conn).await.unwrap();
    drop(conn);
    let expected = table_hashes(&source_url).await;
    let dir = tempfile::tempdir().unwrap();
    let repo_root = dir.path().join("repo");
    let master = MasterKey::generate();
    let source = PostgresConnection::new(&source_url, None).unwrap();
    let handle = tokio::runtime::Handle::current();

    let (repo, manifest) = {
        let source = source.clone();
        let repo_root = repo_root.clone();
        let master = master.clone();
        tokio::task::spawn_blocking(move || {
            let repo = Repository::init(&repo_root, &master).unwrap();
            let mut writer = BackupWriter::start(&repo, BackupType::Full, "round trip").unwrap();
            let record = postgres::backup(
                &handle,
                &mut writer,
                "orders-db",
                "production",
                &source,
                None,
                &Progress::silent("bytes"),
                &CancellationToken::new(),
            )
            .unwrap();
            writer.add_source(record);
            let manifest = writer.commit().unwrap();
            (repo, manifest)
        })
        .await
        .unwrap()
    };
    let record = manifest.source("orders-db").unwrap();
    assert!(record.server_version.starts_with("15") || !record.server_version.is_empty());
    assert!(
        record.tool_version.contains("pg_dump"),
        "{}",
        record.tool_version
    );
    // The manifest's counts are the source's (same snapshot), partitions counted apart.
    let orders = record.tables.iter().find(|t| t.name == "orders").unwrap();
    assert_eq!(orders.rows, 20_000);
    let november = record
        .tables
        .iter()
        .find(|t| t.name == "fills_2026_11")
        .unwrap();
    let december = record
        .tables
        .iter()
        .find(|t| t.name == "fills_2026_12")
        .unwrap();
    assert_eq!(november.rows + december.rows, 5000);
    assert!(!record.location.contains("password"));

    // Scratch databases a killed restore left an hour ago, and one a restore is renaming
    // right now: the next restore drops the first and leaves the second alone.
    // Likewise a drill's scratch copy from yesterday, and one of a drill running now.
    let stale = "qcat_restoring_1000_dead00".to_owned();
    let in_flight = format!("qcat_restoring_{}_live00", qcat_core::time::now_ms());
    let stale_drill = "qcat_drill_orders_db_1000".to_owned();
    let running_drill = format!("qcat_drill_orders_db_{}", qcat_core::time::now_ms());
    {
        let mut admin = sqlx::PgConnection::connect(&url_with_database(&source_url, "postgres"))
            .await
            .unwrap();
        for name in [&stale, &in_flight, &stale_drill, &running_drill] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .unwrap();
        }
    }

    // Restore into a new database through the console's path.
    let restored_url = url_with_database(&source_url, &format!("{}_restored", source.database()));
    let target = PostgresConnection::new(&restored_url, None).unwrap();
    let report = {
        let handle = tokio::runtime::Handle::current();
        let repo_root = repo_root.clone();
        let master = master.clone();
        let manifest = manifest.clone();
        let target = target.clone();
        let scratch = dir.path().join("scratch");
        tokio::task::spawn_blocking(move || {
            let repo = Repository::open(&repo_root, &[master]).unwrap();
            postgres::restore(
                &handle,
                &repo,
                &manifest,
                "orders-db",
                &target,
                Placement::New,
                2,
                None,
                &scratch,
                &Progress::silent("bytes"),
                &CancellationToken::new(),
            )
        })
        .await
        .unwrap()
        .unwrap()
    };
    assert!(report.passed(), "row counts differ: {report:?}");
    let mut swept = report.swept.clone();
    swept.sort();
    assert_eq!(
        swept,
        vec![stale_drill.clone(), stale.clone()],
        "only the stale scratch databases are swept"
    );
    {
        let mut admin = sqlx::PgConnection::connect(&url_with_database(&source_url, "postgres"))
            .await
            .unwrap();
        let mut left: Vec<String> = sqlx::query_scalar(
            "SELECT datname::text FROM pg_database WHERE datname IN ($1, $2, $3, $4)",
        )
        .bind(&stale)
        .bind(&in_flight)
        .bind(&stale_drill)
        .bind(&running_drill)
        .fetch_all(&mut admin)
        .await
        .unwrap();
        left.sort();
        assert_eq!(
            left,
            vec![running_drill.clone(), in_flight.clone()],
            "the ones in use stay"
        );
        for name in [&in_flight, &running_drill] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
                .execute(&mut admin)
                .await
                .unwrap();
        }
    }
    assert_eq!(
        table_hashes(&restored_url).await,
        expected,
        "every table, the sequence and the large object are identical"
    );
    assert_eq!(
        schema_of(&restored_url),
        schema_of(&source_url),
        "the schema is identical"
    );
    assert_eq!(
        postgres::unfinished_restore(&target).await.unwrap(),
        None,
        "the restore mark is cleared"
    );
    // A second restore into the same name is refused: it exists now.
    let again = {
        let handle = tokio::runtime::Handle::current();
        let manifest = manifest.clone();
        let target = target.clone();
        let scratch = dir.path().join("scratch");
        let master = master.clone();
        let repo_root = repo_root.clone();
        tokio::task::spawn_blocking(move || {
            let repo = Repository::open(&repo_root, &[master]).unwrap();
            postgres::restore(
                &handle,
                &repo,
                &manifest,
                "orders-db",
                &target,
                Placement::New,
                1,
                None,
                &scratch,
                &Progress::silent("bytes"),
                &CancellationToken::new(),
            )
        })
        .await
        .unwrap()
    };
    assert!(
        matches!(again, Err(qcat_backup::BackupError::Refused(ref why)) if why.contains("exists already")),
        "{again:?}"
    );

    // The stock pg_restore reads the reassembled stream as it is.
    let archive = dir.path().join("orders.dump");
    {
        let mut out = std::fs::File::create(&archive).unwrap();
        qcat_backup::restore::write_stream(
            &repo,
            &record.streams[0],
            &mut out,
            &Progress::silent("bytes"),
            &CancellationToken::new(),
        )
        .unwrap();
    }
    // The independent reader (Python, no console code) reassembles the same bytes.
    let key_file = dir.path().join("master.key");
    std::fs::write(&key_file, format!("{}\n", master.to_base64().expose())).unwrap();
    let out_dir = dir.path().join("reader");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/qcat-restore.py");
    // Debian's interpreter, where python3-cryptography and python3-zstandard are installed.
    let python = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    run(Command::new(python)
        .arg(&script)
        .arg("--repo")
        .arg(&repo_root)
        .arg("--key-file")
        .arg(&key_file)
        .args(["extract", &manifest.id, "--out-dir"])
        .arg(&out_dir));
    assert_eq!(
        std::fs::read(out_dir.join("orders-db.dump.dump")).unwrap(),
        std::fs::read(&archive).unwrap(),
        "the reader's archive is byte for byte the console's"
    );
    let stock_url = url_with_database(&source_url, &format!("{}_stock", source.database()));
    let admin = url_with_database(&source_url, "postgres");
    run(Command::new("psql").args([
        &admin,
        "-q",
        "-c",
        &format!("CREATE DATABASE {}_stock", source.database()),
    ]));
    run(Command::new(qcat_testkit::postgres_program("pg_restore"))
        .args(["--exit-on-error", "-j", "2", "-d", &stock_url])
        .arg(out_dir.join("orders-db.dump.dump")));
    assert_eq!(
        table_hashes(&stock_url).await,
        expected,
        "pg_restore alone restores the same data"
    );
}

fn run(command: &mut Command) {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        command,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_backup_is_refused_before_the_target_database_is_created() {
    let source_url = qcat_testkit::test_database_url();
    let mut conn = sqlx::PgConnection::connect(&source_url).await.unwrap();
    sqlx::raw_sql("CREATE TABLE t AS SELECT g, md5(g::text) AS h FROM generate_series(1, 50000) g")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    let dir = tempfile::tempdir().unwrap();
    let source = PostgresConnection::new(&source_url, None).unwrap();
    let target_url = url_with_database(&source_url, &format!("{}_never", source.database()));
    let target = PostgresConnection::new(&target_url, None).unwrap();
    let handle = tokio::runtime::Handle::current();
    let root = dir.path().to_owned();
    let result = tokio::task::spawn_blocking(move || {
        let repo = Repository::init(&root.join("repo"), &MasterKey::generate()).unwrap();
        let mut writer = BackupWriter::start(&repo, BackupType::Full, "damaged").unwrap();
        let record = postgres::backup(
            &handle,
            &mut writer,
            "db",
            "production",
            &source,
            None,
            &Progress::silent("bytes"),
            &CancellationToken::new(),
        )
        .unwrap();
        writer.add_source(record);
        let manifest = writer.commit().unwrap();
        let last = manifest.sources[0].streams[0]
            .chunks
            .last()
            .unwrap()
            .clone();
        flip(&root.join("repo"), &last.pack, last.offset + 20);
        postgres::restore(
            &handle,
            &repo,
            &manifest,
            "db",
            &target,
            Placement::New,
            1,
            None,
            &root.join("scratch"),
            &Progress::silent("bytes"),
            &CancellationToken::new(),
        )
    })
    .await
    .unwrap();
    assert!(
        matches!(result, Err(qcat_backup::BackupError::Damaged { .. })),
        "{result:?}"
    );
    let mut admin = sqlx::PgConnection::connect(&url_with_database(&source_url, "postgres"))
        .await
        .unwrap();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(
                url::Url::parse(&target_url)
                    .unwrap()
                    .path()
                    .trim_start_matches('/'),
            )
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert!(
        !exists,
        "the target was never created: the damage was found first"
    );
}

fn flip(repo: &Path, pack: &str, at: u64) {
    let path = repo.join("packs").join(&pack[..2]).join(pack);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[at as usize] ^= 0x80;
    std::fs::write(&path, bytes).unwrap();
}
